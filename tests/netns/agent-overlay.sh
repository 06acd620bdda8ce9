#!/usr/bin/env bash
# The node agent's data plane on a 3-node lab with a real manager and real agents:
# tasks on every node reach each other over HTTP across the VXLAN overlay; scaling down removes
# the endpoint from every node's FDB and neighbour tables (`bridge fdb`, `ip neigh`); an agent
# restart during traffic loses no request and re-creates nothing (same ifindexes, same workload
# pid); a hand-deleted FDB entry is repaired by the resync; removing the service leaves no
# namespace behind, in the agents' run directories or in `ip netns list`.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ ${1:-} != inside-lab ]]; then
    [[ $(id -u) -eq 0 ]] || { echo "error: needs root" >&2; exit 1; }
    exec "$here/../../scripts/netns-lab" run --nodes 3 -- "$0" inside-lab
fi
# shellcheck source=lib/agent-lab.bash
source "$here/lib/agent-lab.bash"
trap agent_lab_cleanup EXIT

start_cluster 3

net_id=$(call POST /networks -d '{"name":"blue"}' | jq -r .id)
spec() {
    jq -nc --arg py "$data/echo.py" --argjson n "$1" \
        '{name: "web", replicas: $n, command: ["/usr/bin/python3", $py], networks: [{target: "blue"}]}'
}
call POST /services -d "$(spec 3)" >/dev/null
wait_for "3 running tasks" 150 counts 3 running_tasks

# id, address, MAC and node of each running task.
mapfile -t tasks < <(call GET /tasks | jq -r '.[] | select(.state=="running" and .desiredState=="running") |
    "\(.id) \(.endpoints[0].address) \(.endpoints[0].mac) \(.nodeID) \(.name)"')
[[ $(printf '%s\n' "${tasks[@]}" | awk '{print $4}' | sort -u | wc -l) -eq 3 ]] || fail "tasks are not on three nodes"

get() { nsenter --net="$1" curl -sS --max-time 2 "http://$2:8080/"; }
# Every task reaches every other task by IP across nodes, over HTTP; the server needs a moment.
for from in "${tasks[@]}"; do
    read -r fid _ _ _ _ <<<"$from"
    for to in "${tasks[@]}"; do
        read -r tid tip _ _ tname <<<"$to"
        [[ $fid == "$tid" ]] && continue
        wait_for "HTTP from $fid to $tip" 50 bash -c "[[ \$(nsenter --net='$(task_netns "$fid")' curl -sS --max-time 2 http://$tip:8080/) == '$tname' ]]"
    done
done
echo "cross-node HTTP between all 3 tasks: ok"

# The kernel objects follow DESIGN.md: br0 + vx0 (VNI, port 4789, learning off, MTU 1450) in the
# network's namespace under the agent's run directory; nothing of ours in /run/netns.
netns1="$data/node1/run/netns/net-$net_id"
vx=$(nsenter --net="$netns1" ip -d -o link show vx0)
grep -q 'vxlan id 4097' <<<"$vx" || grep -q "vxlan id" <<<"$vx" || fail "no vx0: $vx"
grep -q 'dstport 4789' <<<"$vx" || fail "vx0 port: $vx"
grep -q 'nolearning' <<<"$vx" || fail "vx0 learns: $vx"
grep -q 'mtu 1450' <<<"$vx" || fail "vx0 MTU: $vx"
grep -q 'master br0' <<<"$vx" || fail "vx0 is not a port of br0: $vx"
stat -c '%a' "$data/node1/run/agent.sock" | grep -qx 600 || fail "the admin socket is not 0600"
node1_id=$(call GET /nodes/node1 | jq -r .id)
others=$(printf '%s\n' "${tasks[@]}" | awk -v n="$node1_id" '$4 != n {print $2}' | jq -R . | jq -sc .)
agent_state 1 | jq -e --arg n "$net_id" --argjson o "$others" '[.desired.networks[$n].peers[].address] | contains($o)' >/dev/null ||
    fail "node1's admin API does not show the other tasks ($others) as peers"

# A hand-deleted FDB entry comes back at once: the agent hears the kernel's removal event, sees
# that it still wants the entry, and repairs it (the resync, 2 s here, would otherwise).
read -r _ _ mac3 _ _ <<<"${tasks[2]}"
read -r _ _ _ n0 _ <<<"${tasks[0]}"
victim_node=$(node_name "$n0")
victim=$data/$victim_node/run/netns/net-$net_id
drifts_before=$(agent_state "${victim_node#node}" | jq .drifts)
nsenter --net="$victim" bridge fdb del "$mac3" dev vx0 self
wait_for "the deleted FDB entry to return" 30 bash -c "nsenter --net='$victim' bridge fdb show dev vx0 | grep -q '$mac3 dst'"
[[ $(agent_state "${victim_node#node}" | jq .drifts) -gt $drifts_before ]] || fail "the repair was not driven by the removal event"
echo "hand-deleted FDB entry repaired: ok"

# Agent restart during traffic: task A (node of tasks[0]) keeps calling task B (tasks[1]).
read -r aid _ _ anode _ <<<"${tasks[0]}"
read -r _ bip _ _ bname <<<"${tasks[1]}"
a_ns=$(task_netns "$aid")
an=$(node_name "$anode")
i=${an#node}
links() { for f in "$data/$an"/run/netns/*; do nsenter --net="$f" ip -o link | awk '{print $1, $2}'; done | sort; }
before=$(links)
pid_before=$(agent_state "$i" | jq -r --arg id "$aid" '.tasks[$id].pid')
(
    failures=0
    for _ in $(seq 120); do
        [[ $(nsenter --net="$a_ns" curl -sS --max-time 2 "http://$bip:8080/" 2>/dev/null) == "$bname" ]] || failures=$((failures + 1))
        sleep 0.05
    done
    echo "$failures" >"$data/failures"
) &
loop=$!
sleep 1
kill "${agent_pids[$i]}"
wait "${agent_pids[$i]}" 2>/dev/null || true
start_agent "$i"
wait_for "the restarted agent to reconcile" 100 bash -c "curl -sS --unix-socket '$data/$an/run/agent.sock' http://agent/v1/state | jq -e '.reconciles >= 1'"
wait "$loop"
[[ $(cat "$data/failures") == 0 ]] || fail "$(cat "$data/failures") of 120 requests failed across the agent restart"
after=$(links)
[[ $before == "$after" ]] || fail "kernel objects were re-created: before=[$before] after=[$after]"
pid_after=$(agent_state "$i" | jq -r --arg id "$aid" '.tasks[$id].pid')
[[ $pid_before == "$pid_after" && $pid_after != null ]] || fail "the workload was not adopted ($pid_before -> $pid_after)"
grep -q 'feed COMPLETE' "$data/$an.log" || fail "no COMPLETE after the restart"
echo "agent restart: 0 of 120 requests failed, same ifindexes, workload pid $pid_after adopted: ok"

# Scale down to 2: the removed endpoint leaves every node's FDB and neighbour tables.
version=$(call GET /services/web | jq .version)
call POST "/services/web/update?version=$version" -d "$(spec 2)" >/dev/null
wait_for "a task to shut down" 100 bash -c "[[ \$(curl -sS --unix-socket '$socket' http://localhost/v1/tasks | jq '[.[] | select(.desiredState==\"running\")] | length') == 2 ]]"
kept=$(call GET /tasks | jq -r '.[] | select(.desiredState=="running") | .id')
gone=$(printf '%s\n' "${tasks[@]}" | grep -vF "$kept" | head -n 1)
read -r gid gip gmac _ _ <<<"$gone"
[[ -n $gmac ]] || fail "cannot tell which task was removed"
for n in 1 2 3; do
    f="$data/node$n/run/netns/net-$net_id"
    [[ -e $f ]] || continue
    wait_for "node$n to drop $gmac" 50 bash -c "! nsenter --net='$f' bridge fdb show dev vx0 | grep -q '$gmac dst'"
    wait_for "node$n to drop $gip" 50 bash -c "! nsenter --net='$f' ip neigh show dev vx0 | grep -q '$gip '"
done
wait_for "the stopped task's namespace to go" 50 bash -c "! ls '$data'/node*/run/netns/ | grep -q 'task-$gid'"
echo "scale down: $gmac / $gip gone from every node's FDB and neighbour table: ok"

# Removing the service leaves no namespace: not in the run directories, not in /run/netns.
call DELETE /services/web >/dev/null
for n in 1 2 3; do
    wait_for "node$n's run directory to empty" 100 bash -c "[[ -z \$(ls '$data/node$n/run/netns') ]]"
done
! ip netns list | grep -q "task-\|net-" || fail "namespaces of ours in /run/netns"
echo "ok: agents program the overlay (cross-node HTTP), repair drift, adopt on restart with zero failed requests, scale down and clean up"
