#!/usr/bin/env bash
# Shoal's DNS as a task sees it: one shoal-dns process in a node namespace serves 127.0.0.11:53
# inside two task namespaces (sockets made in each), asked by `dig` and by `getent hosts` through
# the task's own resolv.conf. An upstream (dnsmasq) runs in its own namespace, then goes down.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$here/../.."

if [[ ${1:-} != inside ]]; then
    exec "$root/scripts/netns-lab" run --nodes 1 -- "${BASH_SOURCE[0]}" inside
fi

node=$LAB_NODE_1_NS up=$LAB_PREFIX-up front=$LAB_PREFIX-tf back=$LAB_PREFIX-tb
work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$work" "/etc/netns/$front" "/etc/netns/$back"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*" >&2
    [[ -s $work/shoal.log ]] && sed 's/^/  shoal-dns: /' "$work/shoal.log" >&2
    exit 1
}

bin="$root/.build/debug/shoal-dns"
[[ -x $bin ]] || fail "$bin is not built (swift build --build-tests)"
python3 "$root/scripts/lib/dns-fixtures.py" lab "$work"

# The upstream: dnsmasq answering ext.test and NXDOMAIN for the rest of test.
ip netns add "$up"
ip link add up0 netns "$node" type veth peer name eth0 netns "$up"
ip -n "$node" addr add 10.53.0.1/24 dev up0
ip -n "$node" link set up0 up
ip -n "$up" addr add 10.53.0.53/24 dev eth0
ip -n "$up" link set eth0 up
ip -n "$up" link set lo up
ip netns exec "$up" dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts \
    --bind-interfaces --listen-address=10.53.0.53 --port=53 --user=root --pid-file= --local=/test/ --domain-needed --local-ttl=300 \
    --host-record=ext.test,192.0.2.7 --log-facility=- >"$work/dnsmasq.log" 2>&1 &
dnsmasq_pid=$!
pids+=("$dnsmasq_pid")

# Two tasks: client-front on network front, client-back on back (ids as in the view).
for ns in "$front" "$back"; do
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    mkdir -p "/etc/netns/$ns"
    printf 'nameserver 127.0.0.11\noptions attempts:1 timeout:2\n' >"/etc/netns/$ns/resolv.conf"
done

ip netns exec "$node" "$bin" serve --view "$work/view.json" --task "/run/netns/$front=t-cf" \
    --task "/run/netns/$back=t-cb" --upstream 10.53.0.53 --timeout-ms 500 >"$work/shoal.log" 2>&1 &
pids+=("$!")
for _ in $(seq 50); do grep -qs '^ready' "$work/shoal.log" && break; sleep 0.1; done
grep -q '^ready' "$work/shoal.log" || fail "shoal-dns did not start"

# dig inside a task namespace, against the address the task's resolv.conf names.
# shellcheck source=lib/dns-query.bash
source "$here/lib/dns-query.bash"

expect "front: web (VIP)" "$(short "$front" web)" "10.10.0.2"
expect "front: WWW (alias, case)" "$(short "$front" WWW)" "10.10.0.2"
expect "front: tasks.web (draining w3 left out)" "$(short "$front" tasks.web)" "10.10.0.11 10.10.0.12"
expect "front: web.1.w1 (task name)" "$(short "$front" web.1.w1)" "10.10.0.11"
expect "front: web-primary (endpoint alias)" "$(short "$front" web-primary)" "10.10.0.11"
expect "front: api (its front VIP only)" "$(short "$front" api)" "10.10.0.3"
expect "back: api (its back VIP only)" "$(short "$back" api)" "10.20.0.3"
expect "back: db (dnsrr)" "$(short "$back" db)" "10.20.0.21 10.20.0.22"
expect "front: PTR of a task" "$(short "$front" -x 10.10.0.11)" "web.1.w1.front."
expect "front: PTR of a VIP" "$(short "$front" -x 10.10.0.2)" "web.front."
expect "front: SRV" "$(short "$front" _http._tcp.web SRV)" "0 10 80 web.front."

# Scoping: each task sees only its networks' names; the others are forwarded (dnsmasq: NXDOMAIN).
expect "front: db is not on its networks" "$(status "$front" db)" "NXDOMAIN"
expect "back: web is not on its networks" "$(status "$back" web)" "NXDOMAIN"

# NODATA (a Shoal name without the type: not forwarded) vs NXDOMAIN (upstream's word).
nodata=$(q "$front" web AAAA)
grep -q 'status: NOERROR' <<<"$nodata" && grep -q 'ANSWER: 0, AUTHORITY: 1' <<<"$nodata" ||
    fail "web AAAA is not NODATA with an SOA: $nodata"
expect "front: nope.test" "$(status "$front" nope.test)" "NXDOMAIN"
expect "front: ext.test forwarded" "$(short "$front" ext.test)" "192.0.2.7"

# TCP, and truncation: 60 dnsrr addresses do not fit 512 bytes.
tcp=$(q "$front" +tcp tasks.web)
grep -q '(TCP)' <<<"$tcp" && grep -q 'ANSWER: 2,' <<<"$tcp" || fail "tasks.web over TCP: $tcp"
truncated=$(q "$front" +noedns +ignore big)
grep -q 'flags: qr aa tc' <<<"$truncated" && grep -q 'ANSWER: 0,' <<<"$truncated" ||
    fail "big over UDP without EDNS is not truncated: $truncated"
expect "front: big (dig retries over TCP after TC)" "$(q "$front" +noedns big +short | wc -l)" "60"

# getent through the task's own /etc/resolv.conf (ip netns exec mounts /etc/netns/NS/resolv.conf).
getent=$(ip netns exec "$front" getent hosts web) || fail "getent hosts web failed"
expect "front: getent hosts web" "$(awk '{print $1}' <<<"$getent")" "10.10.0.2"
expect "front: getent hosts ext.test" "$(ip netns exec "$front" getent hosts ext.test | awk '{print $1}')" "192.0.2.7"
if ip netns exec "$front" getent hosts db >/dev/null; then fail "front: getent hosts db resolved"; fi

# The upstream goes down: cached answers still come, new questions get SERVFAIL after the timeout.
kill "$dnsmasq_pid"
wait "$dnsmasq_pid" 2>/dev/null || true
expect "front: ext.test from the cache" "$(short "$front" ext.test)" "192.0.2.7"
start=$(date +%s%N)
expect "front: other.test with the upstream down" "$(status "$front" other.test)" "SERVFAIL"
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
((elapsed_ms < 1900)) || fail "SERVFAIL took $elapsed_ms ms (timeout is 500 ms)"
expect "front: web still answered" "$(short "$front" web)" "10.10.0.2"

echo "ok: dns in task namespaces (dig, getent, scoping, NODATA/NXDOMAIN, TCP, TC, forwarding, upstream down in ${elapsed_ms} ms)"
