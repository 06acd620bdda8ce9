#!/usr/bin/env bash
# The raw-exec task driver on a 2-node lab with a real manager and real agents: a task reaches a
# server in the underlay namespace through the node's gateway bridge (masqueraded to the node's
# address, rules in Shoal's own nft table); a task sees /etc/resolv.conf naming 127.0.0.11 and its
# own name in /etc/hosts, and its output lands in its log file; a task that exits 3 is reported
# failed with "exit code 3" and its slot is started again (a replacement task, after the delay).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ ${1:-} != inside-lab ]]; then
    [[ $(id -u) -eq 0 ]] || { echo "error: needs root" >&2; exit 1; }
    exec "$here/../../scripts/netns-lab" run --nodes 2 -- "$0" inside-lab
fi
# shellcheck source=lib/agent-lab.bash
source "$here/lib/agent-lab.bash"
server_pid=
trap '[[ -n $server_pid ]] && kill $server_pid 2>/dev/null; agent_lab_cleanup' EXIT

start_cluster 2
call POST /networks -d '{"name":"blue"}' >/dev/null

# An "outside" server in the underlay namespace; its log shows the client address.
ip netns exec "$LAB_UNDERLAY_NS" python3 -m http.server 8099 --bind "$manager_ip" --directory "$data" \
    >"$data/outside.log" 2>&1 &
server_pid=$!

call POST /services -d "$(jq -nc '{name: "probe", replicas: 1, networks: [{target: "blue"}],
    command: ["sh", "-c", "cat /etc/resolv.conf /etc/hosts; exec sleep 1000"]}')" >/dev/null
wait_for "the probe task to run" 100 bash -c "curl -sS --unix-socket '$socket' http://localhost/v1/tasks | jq -e '.[] | select(.serviceName==\"probe\" and .state==\"running\")'"
read -r pid_task pname pnode < <(call GET /tasks | jq -r '.[] | select(.serviceName=="probe") | "\(.id) \(.name) \(.nodeID)"')
pn=$(node_name "$pnode")
ns=$(task_netns "$pid_task")
wait_for "egress HTTP to the underlay" 25 nsenter --net="$ns" curl -sS --max-time 2 -o /dev/null "http://$manager_ip:8099/echo.py"
node_ip_var="LAB_NODE_${pn#node}_IP"
grep -q "^${!node_ip_var} .*GET /echo.py" "$data/outside.log" || fail "egress was not masqueraded to ${!node_ip_var}: $(cat "$data/outside.log")"
nsenter --net="/run/netns/$(eval echo "\$LAB_NODE_${pn#node}_NS")" nft -j list table ip shoal_egress | grep -q '"masquerade"' ||
    fail "no masquerade rule in table ip shoal_egress"
log="$data/$pn/tasks/$pid_task/output.log"
wait_for "the task's log file" 25 grep -q 'nameserver 127.0.0.11' "$log"
grep -q " $pname " "$log" || fail "/etc/hosts inside the task lacks its name: $(cat "$log")"
grep -q 'nameserver 127.0.0.11' /etc/resolv.conf && fail "the host's resolv.conf was changed"
echo "egress masqueraded to ${!node_ip_var}, resolv.conf and hosts of the task, log file: ok"

# A task that exits 3: reported failed with its exit code, and its slot runs again.
call POST /services -d "$(jq -nc '{name: "crash", replicas: 1, networks: [{target: "blue"}],
    command: ["sh", "-c", "echo crashing; sleep 1; exit 3"]}')" >/dev/null
wait_for "two failed crash tasks (one restart)" 100 bash -c "[[ \$(curl -sS --unix-socket '$socket' http://localhost/v1/tasks | jq '[.[] | select(.serviceName==\"crash\" and .state==\"failed\" and .status==\"exit code 3\")] | length') -ge 2 ]]"
first=$(call GET /tasks | jq -r '[.[] | select(.serviceName=="crash")] | sort_by(.version) | .[0] | "\(.id) \(.nodeID)"')
read -r cid cnode <<<"$first"
grep -q crashing "$data/$(node_name "$cnode")/tasks/$cid/output.log" || fail "the crashed task's output is not in its log"
echo "ok: egress through Shoal's nft table, task files and log, a failing task reported with its exit code and restarted"
