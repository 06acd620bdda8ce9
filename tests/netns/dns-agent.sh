#!/usr/bin/env bash
# Shoal's DNS as the agent serves it: a 2-node lab, a real manager and real agents; every running
# task gets 127.0.0.11:53 (UDP and TCP) inside its own namespace. `dig` from inside task
# namespaces and `getent hosts` inside a task's own mount namespace (its resolv.conf): service ->
# VIP, tasks.<svc>, task name, alias, <name>.<network>, PTR, SRV of an exposed port, dnsrr, scoping
# between networks, NODATA vs NXDOMAIN, TCP, forwarding to dnsmasq in its own namespace; after a
# scale down the removed task leaves tasks.<svc>; an agent restart serves again; the upstream
# goes down and a new question gets SERVFAIL promptly.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ ${1:-} != inside-lab ]]; then
    [[ $(id -u) -eq 0 ]] || { echo "error: needs root" >&2; exit 1; }
    exec "$here/../../scripts/netns-lab" run --nodes 2 -- "$0" inside-lab
fi
# shellcheck source=lib/agent-lab.bash
source "$here/lib/agent-lab.bash"
up=$LAB_PREFIX-up
dnsmasq_pid=
trap '[[ -n $dnsmasq_pid ]] && kill $dnsmasq_pid 2>/dev/null; agent_lab_cleanup' EXIT

# The upstream: dnsmasq in its own namespace on the underlay (172.29.0.53), answering ext.test and
# NXDOMAIN for the rest of test and for single-label names.
ip netns add "$up"
ip link add up0 netns "$LAB_UNDERLAY_NS" type veth peer name eth0 netns "$up"
ip -n "$LAB_UNDERLAY_NS" link set up0 master ul0 up
ip -n "$up" addr add 172.29.0.53/24 dev eth0
ip -n "$up" link set eth0 up
ip -n "$up" link set lo up
ip netns exec "$up" dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts \
    --bind-interfaces --listen-address=172.29.0.53 --port=53 --user=root --pid-file= --local=/test/ \
    --domain-needed --local-ttl=300 --host-record=ext.test,192.0.2.7 --log-facility=- >"$data/dnsmasq.log" 2>&1 &
dnsmasq_pid=$!

dns_args=(--dns-upstream 172.29.0.53 --dns-timeout-ms 500)
start_cluster 2 "${dns_args[@]}"
front=$(call POST /networks -d '{"name":"front"}' | jq -r .id)
back=$(call POST /networks -d '{"name":"back"}' | jq -r .id)
service() { call POST /services -d "$1" >/dev/null; }
service '{"name":"web","replicas":2,"command":["sleep","100000"],
    "networks":[{"target":"front","aliases":["www"]}],"expose":[{"name":"http","target":8080}]}'
service '{"name":"api","replicas":1,"command":["sleep","100000"],"networks":[{"target":"front"},{"target":"back"}]}'
service '{"name":"db","replicas":2,"endpointMode":"dnsrr","command":["sleep","100000"],"networks":[{"target":"back"}]}'
service '{"name":"cf","replicas":1,"command":["sleep","100000"],"networks":[{"target":"front"}]}'
service '{"name":"cb","replicas":1,"command":["sleep","100000"],"networks":[{"target":"back"}]}'
wait_for "7 running tasks" 150 counts 7 running_tasks

task_field() { call GET /tasks | jq -r --arg s "$1" "[.[] | select(.serviceName == \$s and .desiredState == \"running\")] | sort_by(.slot) | .[$2] | $3"; }
address_on() { call GET /tasks | jq -r --arg id "$1" --arg n "$2" '.[] | select(.id == $id) | .endpoints[] | select(.networkID == $n) | .address'; }
vip_on() { call GET "/services/$1" | jq -r --arg n "$2" '.virtualIPs[] | select(.networkID == $n) | .address'; }
cf=$(task_field cf 0 .id) cb=$(task_field cb 0 .id)
cf_ns=$(task_netns "$cf") cb_ns=$(task_netns "$cb")

# dig inside a task namespace, against the address the task's resolv.conf names.
# shellcheck source=lib/dns-query.bash
source "$here/lib/dns-query.bash"
wait_for "DNS in the front client" 50 q "$cf_ns" web +short
wait_for "DNS in the back client" 50 q "$cb_ns" db +short

web_vip=$(vip_on web "$front")
web1=$(task_field web 0 .id) web2=$(task_field web 1 .id)
web1_name=$(task_field web 0 .name)
web1_ip=$(address_on "$web1" "$front") web2_ip=$(address_on "$web2" "$front")
web_ips=$(printf '%s\n' "$web1_ip" "$web2_ip" | sort -V | tr '\n' ' ' | sed 's/ $//')
db_ips=$(for k in 0 1; do address_on "$(task_field db $k .id)" "$back"; done | sort -V | tr '\n' ' ' | sed 's/ $//')

expect "front: web (VIP)" "$(short "$cf_ns" web)" "$web_vip"
expect "front: WWW (alias, any case)" "$(short "$cf_ns" WWW)" "$web_vip"
expect "front: web.front" "$(short "$cf_ns" web.front)" "$web_vip"
expect "front: tasks.web" "$(short "$cf_ns" tasks.web)" "$web_ips"
expect "front: task name" "$(short "$cf_ns" "$web1_name")" "$web1_ip"
expect "front: task name.front" "$(short "$cf_ns" "$web1_name.front")" "$web1_ip"
expect "front: PTR of a task" "$(short "$cf_ns" -x "$web1_ip")" "$web1_name.front."
expect "front: PTR of a VIP" "$(short "$cf_ns" -x "$web_vip")" "web.front."
expect "front: SRV of the exposed port" "$(short "$cf_ns" _http._tcp.web SRV)" "0 10 8080 web.front."
expect "front: api (its front VIP)" "$(short "$cf_ns" api)" "$(vip_on api "$front")"
expect "back: api (its back VIP)" "$(short "$cb_ns" api)" "$(vip_on api "$back")"
expect "back: db (dnsrr: the task addresses)" "$(short "$cb_ns" db)" "$db_ips"
# Scoping: a name on a network the task is not on is not Shoal's for it (dnsmasq: NXDOMAIN).
expect "front: db is on back only" "$(status "$cf_ns" db)" "NXDOMAIN"
expect "back: web is on front only" "$(status "$cb_ns" web)" "NXDOMAIN"
# web.front is forwarded too; dnsmasq has no upstream for it and refuses.
expect "back: web.front is forwarded" "$(status "$cb_ns" web.front)" "REFUSED"
nodata=$(q "$cf_ns" web AAAA)
grep -q 'status: NOERROR' <<<"$nodata" && grep -q 'ANSWER: 0, AUTHORITY: 1' <<<"$nodata" ||
    fail "web AAAA is not NODATA with an SOA: $nodata"
expect "front: nope.test" "$(status "$cf_ns" nope.test)" "NXDOMAIN"
tcp=$(q "$cf_ns" +tcp tasks.web)
grep -q '(TCP)' <<<"$tcp" && grep -q 'ANSWER: 2,' <<<"$tcp" || fail "tasks.web over TCP: $tcp"
expect "front: ext.test forwarded upstream" "$(short "$cf_ns" ext.test)" "192.0.2.7"

# getent inside the task's own mount namespace: libc reads the task's resolv.conf (127.0.0.11).
cf_node=$(node_name "$(task_field cf 0 .nodeID)")
cf_pid=$(agent_state "${cf_node#node}" | jq -r --arg id "$cf" '.tasks[$id].pid')
in_task() { nsenter -t "$cf_pid" -m -n "$@"; }
in_task grep -q '^nameserver 127.0.0.11' /etc/resolv.conf || fail "the task's resolv.conf does not name 127.0.0.11"
expect "getent hosts web (in the task)" "$(in_task getent hosts web | awk '{print $1}')" "$web_vip"
expect "getent hosts ext.test (in the task)" "$(in_task getent hosts ext.test | awk '{print $1}')" "192.0.2.7"
if in_task getent hosts db >/dev/null; then fail "getent hosts db resolved in a task not on back"; fi
echo "names, scoping, NODATA/NXDOMAIN, TCP, forwarding, getent: ok"

# Scale down: the removed task's address leaves tasks.web, and its listener closes.
version=$(call GET /services/web | jq .version)
call POST "/services/web/update?version=$version" -d '{"name":"web","replicas":1,"command":["sleep","100000"],
    "networks":[{"target":"front","aliases":["www"]}],"expose":[{"name":"http","target":8080}]}' >/dev/null
wait_for "tasks.web down to web.1" 100 counts "$web1_ip" short "$cf_ns" tasks.web
web2_node=$(node_name "$(call GET /tasks | jq -r --arg id "$web2" '.[] | select(.id == $id) | .nodeID')")
wait_for "the agent to stop serving web.2" 100 bash -c \
    "! curl -sS --unix-socket '$data/$web2_node/run/agent.sock' http://agent/v1/dns | jq -e --arg id '$web2' '.tasks | index(\$id)'"
echo "scale down: tasks.web is $web1_ip only, the listener of $web2 closed: ok"

# An agent restart: the adopted tasks are served again.
cf_agent=${cf_node#node}
kill "${agent_pids[$cf_agent]}"
wait "${agent_pids[$cf_agent]}" 2>/dev/null || true
if q "$cf_ns" web 2>&1 | grep -q 'status: NOERROR'; then fail "DNS still answered with the agent stopped"; fi
start_agent "$cf_agent" "${dns_args[@]}"
wait_for "DNS after the agent restart" 100 counts "$web_vip" short "$cf_ns" web
echo "agent restart: served again: ok"

# The upstream goes down: cached answers still come, a new question gets SERVFAIL after 500 ms.
kill "$dnsmasq_pid"
wait "$dnsmasq_pid" 2>/dev/null || true
dnsmasq_pid=
started=$(date +%s%N)
expect "front: other.test with the upstream down" "$(status "$cf_ns" other.test)" "SERVFAIL"
elapsed_ms=$((($(date +%s%N) - started) / 1000000))
((elapsed_ms < 1900)) || fail "SERVFAIL took $elapsed_ms ms (the timeout is 500 ms)"
expect "front: web still answered" "$(short "$cf_ns" web)" "$web_vip"
echo "ok: the agent serves DNS in every task (names, scoping, TCP, getent, forwarding, scale down, restart, upstream down in ${elapsed_ms} ms)"
