#!/usr/bin/env bash
# Node down on a 3-node lab with a real manager and real agents: node3's agent is killed and its
# underlay link cut; the manager marks it DOWN, its task comes back on another node, the other
# nodes drop every FDB entry pointing at node3, and the replacement answers HTTP across the overlay.
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
call POST /services -d "$(jq -nc --arg py "$data/echo.py" \
    '{name: "web", replicas: 3, command: ["/usr/bin/python3", $py], networks: [{target: "blue"}]}')" >/dev/null
wait_for "3 running tasks" 150 counts 3 running_tasks
node3=$(call GET /nodes/node3 | jq -r .id)
for n in 1 2; do
    wait_for "node$n to program node3's endpoint" 50 bash -c "nsenter --net='$data/node$n/run/netns/net-$net_id' bridge fdb show dev vx0 | grep -q 'dst $LAB_NODE_3_IP'"
done

kill -9 "${agent_pids[3]}"
wait "${agent_pids[3]}" 2>/dev/null || true
ip -n "$LAB_UNDERLAY_NS" link set n3 down
wait_for "node3 to be DOWN" 100 bash -c "[[ \$(curl -sS --unix-socket '$socket' http://localhost/v1/nodes/node3 | jq -r .state) == down ]]"
wait_for "3 running tasks off node3" 150 bash -c "[[ \$(curl -sS --unix-socket '$socket' http://localhost/v1/tasks | jq --arg n '$node3' '[.[] | select(.state==\"running\" and .desiredState==\"running\" and .nodeID != \$n)] | length') == 3 ]]"
for n in 1 2; do
    wait_for "node$n to drop node3's entries" 50 bash -c "! nsenter --net='$data/node$n/run/netns/net-$net_id' bridge fdb show dev vx0 | grep -q 'dst $LAB_NODE_3_IP'"
done
# Every pair of running tasks on nodes 1 and 2 still talks, the replacement included.
mapfile -t tasks < <(call GET /tasks | jq -r '.[] | select(.state=="running" and .desiredState=="running") | "\(.id) \(.endpoints[0].address) \(.name)"')
for from in "${tasks[@]}"; do
    read -r fid _ _ <<<"$from"
    for to in "${tasks[@]}"; do
        read -r tid tip tname <<<"$to"
        [[ $fid == "$tid" ]] && continue
        wait_for "HTTP from $fid to $tip" 50 bash -c "[[ \$(nsenter --net='$(task_netns "$fid")' curl -sS --max-time 2 http://$tip:8080/) == '$tname' ]]"
    done
done
echo "ok: node3 down: its task moved, nodes 1 and 2 dropped its FDB entries, the replacement answers across the overlay"
