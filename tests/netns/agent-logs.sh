#!/usr/bin/env bash
# `shoalctl service logs` on a 2-node lab with a real manager and real agents: the manager asks the
# agents holding a service's tasks for their log files and relays the lines. Lines both tasks
# printed come out (with --tail, and for one task by name); `--follow` sees a line printed later
# and ends when shoalctl is stopped (the agent is told nobody reads any more).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ ${1:-} != inside-lab ]]; then
    [[ $(id -u) -eq 0 ]] || { echo "error: needs root" >&2; exit 1; }
    exec "$here/../../scripts/netns-lab" run --nodes 2 -- "$0" inside-lab
fi
# shellcheck source=lib/agent-lab.bash
source "$here/lib/agent-lab.bash"
follow_pid=
trap '[[ -n $follow_pid ]] && kill $follow_pid 2>/dev/null; agent_lab_cleanup' EXIT
export SHOAL_SOCKET=$socket
shoalctl="$bin/shoalctl"

start_cluster 2
call POST /networks -d '{"name":"blue"}' >/dev/null
mkdir -p "$data/say"
# Each task prints three lines, then whatever the test drops into $data/say/<its name>.
call POST /services -d "$(jq -nc --arg say "$data/say" '{name: "talk", replicas: 2, networks: [{target: "blue"}],
    env: ["SAY=\($say)"],
    command: ["sh", "-c", "for i in 1 2 3; do echo \"$SHOAL_TASK_NAME line $i\"; done; while sleep 0.2; do f=$SAY/$SHOAL_TASK_NAME; [ -f $f ] && cat $f && rm $f; done"]}')" >/dev/null
wait_for "two running tasks" 150 counts 2 running_tasks
mapfile -t names < <(call GET /tasks | jq -r '.[] | select(.desiredState == "running") | .name' | sort)

out=$("$shoalctl" service logs talk)
for name in "${names[@]}"; do
    for i in 1 2 3; do
        grep -qx "$name@node[12] *| $name line $i" <<<"$out" || fail "no line $i of $name in: $out"
    done
done
[[ $(wc -l <<<"$out") == 6 ]] || fail "expected 6 lines: $out"
out=$("$shoalctl" service logs --tail 1 --timestamps talk)
[[ $(wc -l <<<"$out") == 2 ]] || fail "--tail 1 of two tasks: $out"
grep -qE "^20[0-9-]+T[0-9:]+Z ${names[0]}@node[12] *\| ${names[0]} line 3$" <<<"$out" || fail "--tail 1 -t: $out"
out=$("$shoalctl" service logs "${names[1]}")
[[ $(grep -c "${names[1]} line" <<<"$out") == 3 && $(wc -l <<<"$out") == 3 ]] || fail "logs of task ${names[1]}: $out"
out=$("$shoalctl" service logs nosuch 2>&1) && fail "logs of an unknown service succeeded: $out"
grep -q "no service or task nosuch" <<<"$out" || fail "unknown service not named: $out"
echo "service logs: 6 lines of two tasks on two nodes, --tail, --timestamps, one task by name: ok"

"$shoalctl" service logs --follow --tail 0 talk >"$data/follow.txt" 2>&1 &
follow_pid=$!
sleep 1
echo "a later line" >"$data/say/${names[0]}"
wait_for "the followed line" 50 grep -q "${names[0]}@node[12] *| a later line" "$data/follow.txt"
[[ $(wc -l <"$data/follow.txt") == 1 ]] || fail "--tail 0 --follow printed more: $(cat "$data/follow.txt")"
kill "$follow_pid"
wait "$follow_pid" 2>/dev/null || true
follow_pid=
# The manager notices the reader is gone (keep-alive write fails) and the agent's next post gets 410.
echo "ok: service logs relays the tasks' output from the agents; --follow sees a new line"
