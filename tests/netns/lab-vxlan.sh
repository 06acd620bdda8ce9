#!/usr/bin/env bash
# The lab's own test: two node namespaces joined by a VXLAN pair made with `ip`,
# no learning, static FDB entries only (as Shoal programs them), and a ping across.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if [[ ${1:-} != inside ]]; then
    exec "$here/../../scripts/netns-lab" run --nodes 2 -- "${BASH_SOURCE[0]}" inside
fi

n1=$LAB_NODE_1_NS n2=$LAB_NODE_2_NS
fail() { echo "FAIL: $*" >&2; exit 1; }

# The underlay itself must work first.
ip netns exec "$n1" ping -c1 -W2 "$LAB_NODE_2_IP" >/dev/null || fail "underlay ping n1 -> n2"

overlay_ip() { echo "10.200.0.$1"; }
for i in 1 2; do
    ns_var="LAB_NODE_${i}_NS" ip_var="LAB_NODE_${i}_IP"
    ns=${!ns_var}
    ip -n "$ns" link add vx0 type vxlan id 4097 dstport 4789 local "${!ip_var}" nolearning
    ip -n "$ns" link set vx0 address "02:42:0a:c8:00:0$i"
    ip -n "$ns" addr add "$(overlay_ip "$i")/24" dev vx0
    ip -n "$ns" link set vx0 up
done

# Without FDB entries the overlay cannot deliver: proves the check below can fail.
if ip netns exec "$n1" ping -c1 -W1 "$(overlay_ip 2)" >/dev/null 2>&1; then
    fail "overlay ping succeeded with no FDB entry"
fi

# Peers as Shoal programs them: MAC -> remote VTEP, and IP -> MAC.
ip -n "$n1" neigh replace "$(overlay_ip 2)" lladdr 02:42:0a:c8:00:02 dev vx0 nud permanent
bridge -n "$n1" fdb append 02:42:0a:c8:00:02 dev vx0 dst "$LAB_NODE_2_IP" self permanent
ip -n "$n2" neigh replace "$(overlay_ip 1)" lladdr 02:42:0a:c8:00:01 dev vx0 nud permanent
bridge -n "$n2" fdb append 02:42:0a:c8:00:01 dev vx0 dst "$LAB_NODE_1_IP" self permanent

ip netns exec "$n1" ping -c3 -i0.2 -W2 "$(overlay_ip 2)" >/dev/null || fail "overlay ping n1 -> n2"
ip netns exec "$n2" ping -c3 -i0.2 -W2 "$(overlay_ip 1)" >/dev/null || fail "overlay ping n2 -> n1"

# The packets really crossed as VXLAN: the vxlan device counted them.
tx=$(ip -n "$n1" -s -j link show vx0 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["stats64"]["tx"]["packets"])')
((tx >= 3)) || fail "vx0 on n1 sent $tx packets, expected at least 3"
ip -d -n "$n1" link show vx0 | grep -q 'vxlan id 4097.*dstport 4789' || fail "vx0 attributes"
echo "ok: vxlan pair across the lab (vx0 tx=$tx)"
