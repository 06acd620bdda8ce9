#!/usr/bin/env bash
# Two overlay networks on a 2-node lab with a real manager and real agents: a task on "blue" cannot
# reach a task on "red", and a task on both reaches each network's tasks on other nodes through
# that network's interface (eth0 for blue, eth1 for red).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ ${1:-} != inside-lab ]]; then
    [[ $(id -u) -eq 0 ]] || { echo "error: needs root" >&2; exit 1; }
    exec "$here/../../scripts/netns-lab" run --nodes 2 -- "$0" inside-lab
fi
# shellcheck source=lib/agent-lab.bash
source "$here/lib/agent-lab.bash"
trap agent_lab_cleanup EXIT

start_cluster 2
call POST /networks -d '{"name":"blue"}' >/dev/null
call POST /networks -d '{"name":"red"}' >/dev/null
service() { # name networks...
    local name=$1
    shift
    jq -nc --arg py "$data/echo.py" --arg name "$name" --args \
        '{name: $name, replicas: 2, command: ["/usr/bin/python3", $py], networks: [$ARGS.positional[] | {target: .}]}' "$@"
}
call POST /services -d "$(service b blue)" >/dev/null
call POST /services -d "$(service r red)" >/dev/null
call POST /services -d "$(service both blue red)" >/dev/null
wait_for "6 running tasks" 150 counts 6 tasks_in_running_state
node1=$(call GET /nodes/node1 | jq -r .id)
task() { # service, on node1 or not: "id ip0 ip1 name"
    call GET /tasks | jq -r --arg s "$1" --arg n "$node1" --arg here "$2" \
        '[.[] | select(.serviceName == $s and ((.nodeID == $n) == ($here == "yes")))][0] |
         "\(.id) \(.endpoints[0].address) \(.endpoints[1].address // "-") \(.name)"'
}
read -r b1 _ _ _ < <(task b yes)
read -r _ b2ip _ b2name < <(task b no)
read -r _ r2ip _ r2name < <(task r no)
read -r both1 _ _ _ < <(task both yes)
get() { nsenter --net="$(task_netns "$1")" curl -sS --max-time 2 "http://$2:8080/"; }
wait_for "blue to blue across nodes" 50 bash -c "[[ \$(nsenter --net='$(task_netns "$b1")' curl -sS --max-time 2 http://$b2ip:8080/) == '$b2name' ]]"
if get "$b1" "$r2ip" >/dev/null 2>&1; then fail "a task on blue reached a task on red ($r2ip)"; fi
wait_for "both -> blue" 50 bash -c "[[ \$(nsenter --net='$(task_netns "$both1")' curl -sS --max-time 2 http://$b2ip:8080/) == '$b2name' ]]"
wait_for "both -> red" 50 bash -c "[[ \$(nsenter --net='$(task_netns "$both1")' curl -sS --max-time 2 http://$r2ip:8080/) == '$r2name' ]]"
ns=$(task_netns "$both1")
nsenter --net="$ns" ip route get "$b2ip" | grep -q 'dev eth0' || fail "blue is not reached through eth0"
nsenter --net="$ns" ip route get "$r2ip" | grep -q 'dev eth1' || fail "red is not reached through eth1"
echo "ok: blue and red are isolated; a task on both reaches blue through eth0 and red through eth1, across nodes"
