#!/bin/bash
# IPVS smoke test; runs inside the kernel VM: scripts/kernel-vm tests/vm/ipvs-smoke.sh
#
#   client ns  --veth--  director ns (IPVS, VIP)  --veth--  backend ns (busybox httpd)
#   10.231.1.2           10.231.1.1 / 10.231.2.1            10.231.2.2:8080
#
# The client has no route to the backend subnet: the only way to the body is
# the IPVS virtual service (masquerade) on VIP 10.231.1.100:80. Before the
# service exists the same request must fail.
set -euo pipefail

p=sht${SHOAL_RUN_TAG:-}$$
client=$p-cli
director=$p-dir
backend=$p-be
vip=10.231.1.100
rip=10.231.2.2
web=$(mktemp -d)
body="shoal ipvs smoke $$ $RANDOM"
httpd_pid=

cleanup() {
    local rc=$?
    set +e
    [ -n "$httpd_pid" ] && kill "$httpd_pid" 2>/dev/null
    for ns in "$client" "$director" "$backend"; do
        ip netns del "$ns" 2>/dev/null
    done
    rm -rf "$web"
    exit "$rc"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

at() {
    local ns=$1
    shift
    ip netns exec "$ns" "$@"
}

[ -e /proc/net/ip_vs ] || modprobe ip_vs 2>/dev/null || true
[ -e /proc/net/ip_vs ] || fail "this kernel has no IPVS (run it as: scripts/kernel-vm $0)"

for ns in "$client" "$director" "$backend"; do
    ip netns add "$ns"
    at "$ns" ip link set lo up
done
ip link add "$p-c0" netns "$client" type veth peer name "$p-d0" netns "$director"
ip link add "$p-d1" netns "$director" type veth peer name "$p-b0" netns "$backend"

at "$client" ip addr add 10.231.1.2/24 dev "$p-c0"
at "$client" ip link set "$p-c0" up
at "$director" ip addr add 10.231.1.1/24 dev "$p-d0"
at "$director" ip addr add "$vip/32" dev "$p-d0"
at "$director" ip addr add 10.231.2.1/24 dev "$p-d1"
at "$director" ip link set "$p-d0" up
at "$director" ip link set "$p-d1" up
at "$director" sh -c 'echo 1 >/proc/sys/net/ipv4/ip_forward'
at "$backend" ip addr add "$rip/24" dev "$p-b0"
at "$backend" ip link set "$p-b0" up
at "$backend" ip route add default via 10.231.2.1

printf '%s\n' "$body" >"$web/index.html"
at "$backend" busybox httpd -f -p 8080 -h "$web" &
httpd_pid=$!

get() { # ns url: prints the body, fails on any error
    at "$1" curl -sS --fail --noproxy '*' --connect-timeout 3 --max-time 5 "$2"
}

# The backend answers (from the director, which routes to it).
for _ in $(seq 50); do
    get "$director" "http://$rip:8080/" >/dev/null 2>&1 && break
    sleep 0.2
done
[ "$(get "$director" "http://$rip:8080/")" = "$body" ] || fail "backend httpd does not serve the body"

# Without the virtual service the VIP serves nothing, and the client cannot
# reach the backend itself.
if out=$(get "$client" "http://$vip/" 2>&1); then
    fail "request to $vip succeeded without an IPVS service: $out"
fi
if get "$client" "http://$rip:8080/" >/dev/null 2>&1; then
    fail "client reaches the backend directly; the test would not prove forwarding"
fi

at "$director" ipvsadm -A -t "$vip:80" -s rr
at "$director" ipvsadm -a -t "$vip:80" -r "$rip:8080" -m -w 1

got=$(get "$client" "http://$vip/") || fail "request to the VIP $vip failed with the IPVS service in place"
[ "$got" = "$body" ] || fail "VIP answered '$got', expected '$body'"

listing=$(at "$director" ipvsadm -Ln)
echo "$listing"
grep -Eq "^TCP +$vip:80 rr" <<<"$listing" || fail "ipvsadm -Ln does not show the service $vip:80"
grep -Eq -- "-> $rip:8080 +Masq +1 " <<<"$listing" || fail "ipvsadm -Ln does not show the destination $rip:8080"
# ActiveConn + InActConn of the destination: the finished request stays in
# TIME_WAIT, counted as inactive.
conns=$(awk -v d="$rip:8080" '$1 == "->" && $2 == d { print $5 + $6 }' <<<"$listing")
if ! [[ $conns =~ ^[0-9]+$ ]] || [ "$conns" -lt 1 ]; then
    fail "destination $rip:8080 has '$conns' connections, expected >= 1"
fi

# The Conns statistic is refreshed by the kernel's estimator every 2 s.
total=
for _ in $(seq 30); do
    stats=$(at "$director" ipvsadm -Ln --stats -t "$vip:80")
    total=$(awk -v d="$rip:8080" '$1 == "->" && $2 == d { print $3 }' <<<"$stats")
    [ "${total:-0}" -ge 1 ] && break
    sleep 0.2
done
echo "$stats"
[ "${total:-0}" -ge 1 ] || fail "ipvsadm --stats counts '$total' connections to $rip:8080, expected >= 1"

echo "ok: IPVS forwarded $vip:80 -> $rip:8080 ($conns connection(s))"
