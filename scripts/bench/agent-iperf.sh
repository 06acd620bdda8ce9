#!/usr/bin/env bash
# Overlay throughput: iperf3 between two tasks on two nodes over the agents' VXLAN overlay, against
# (a) the two node namespaces directly on the underlay and (b) a bare VXLAN made with `ip` between
# the same two node namespaces (VNI 4999, port 4790, nolearning, static FDB and neighbour entries,
# MTU 1450), all in the same run, RUNS runs of SECONDS each, interleaved; medians.
#
#   scripts/bench/agent-iperf.sh [RUNS] [SECONDS]     (root; build first: swift build --product shoald)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
runs=${1:-5}
seconds=${2:-3}
if [[ ${3:-} != inside-lab ]]; then
    [[ $(id -u) -eq 0 ]] || { echo "error: needs root" >&2; exit 1; }
    command -v iperf3 >/dev/null || { echo "error: needs iperf3 (scripts/packages/bench.txt)" >&2; exit 1; }
    exec "$here/../netns-lab" run --nodes 2 -- "$0" "$runs" "$seconds" inside-lab
fi
# shellcheck source=../../tests/netns/lib/agent-lab.bash
source "$here/../../tests/netns/lib/agent-lab.bash"
trap agent_lab_cleanup EXIT
n1=/run/netns/$LAB_NODE_1_NS
n2=/run/netns/$LAB_NODE_2_NS

start_manager
start_agent 1
start_agent 2
wait_for "two ready nodes" 100 counts 2 ready_nodes
call POST /networks -d '{"name":"perf"}' >/dev/null
call POST /services -d '{"name":"perf","replicas":2,"command":["iperf3","-s"],"networks":[{"target":"perf"}]}' >/dev/null
wait_for "two running tasks" 150 counts 2 tasks_in_running_state
node1=$(call GET /nodes/node1 | jq -r .id)
client_task=$(call GET /tasks | jq -r --arg n "$node1" '.[] | select(.nodeID == $n) | .id')
server_ip=$(call GET /tasks | jq -r --arg n "$node1" '.[] | select(.nodeID != $n) | .endpoints[0].address')
client_ns=$(task_netns "$client_task")

# The bare VXLAN between the node namespaces, as iproute2 makes it.
for i in 1 2; do
    ns_var="LAB_NODE_${i}_NS"
    ip -n "${!ns_var}" link add vxb type vxlan id 4999 dstport 4790 local "172.29.0.1$i" nolearning
    ip -n "${!ns_var}" link set vxb mtu 1450 up
    ip -n "${!ns_var}" addr add "10.99.0.$i/24" dev vxb
done
mac() { ip -n "$1" -o link show vxb | grep -o 'link/ether [0-9a-f:]*' | cut -d' ' -f2; }
mac1=$(mac "$LAB_NODE_1_NS")
mac2=$(mac "$LAB_NODE_2_NS")
bridge -n "$LAB_NODE_1_NS" fdb append "$mac2" dev vxb dst 172.29.0.12 self permanent
bridge -n "$LAB_NODE_2_NS" fdb append "$mac1" dev vxb dst 172.29.0.11 self permanent
ip -n "$LAB_NODE_1_NS" neigh replace 10.99.0.2 lladdr "$mac2" dev vxb nud permanent
ip -n "$LAB_NODE_2_NS" neigh replace 10.99.0.1 lladdr "$mac1" dev vxb nud permanent
nsenter --net="$n2" iperf3 -s -p 5202 -D
nsenter --net="$n2" iperf3 -s -p 5203 -B 10.99.0.2 -D

measure() { # label netns target port; a server still finishing the previous test answers "busy": retry
    local result
    for _ in $(seq 20); do
        result=$(nsenter --net="$2" iperf3 -c "$3" -p "$4" -t "$seconds" -J 2>/dev/null |
            jq -e '.end.sum_received.bits_per_second / 1e9' 2>/dev/null) && { echo "$result" >>"$data/$1"; return 0; }
        sleep 0.5
    done
    fail "iperf3 $1 never ran"
}
for _ in $(seq "$runs"); do
    measure overlay "$client_ns" "$server_ip" 5201
    measure underlay "$n1" 172.29.0.12 5202
    measure vxlan "$n1" 10.99.0.2 5203
done
python3 - "$data" <<'PY'
import statistics, sys
d = sys.argv[1]
m = {k: [float(x) for x in open(f"{d}/{k}")] for k in ("overlay", "underlay", "vxlan")}
med = {k: statistics.median(v) for k, v in m.items()}
for k, v in m.items():
    print(f"{k:9s} median {med[k]:6.2f} Gbit/s  runs: " + " ".join(f"{x:.2f}" for x in v))
print(f"overlay / bare vxlan: {med['overlay'] / med['vxlan']:.2f}x   overlay / underlay: {med['overlay'] / med['underlay']:.2f}x   bare vxlan / underlay: {med['vxlan'] / med['underlay']:.2f}x")
PY
