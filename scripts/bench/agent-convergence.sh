#!/usr/bin/env bash
# Convergence of the node agents: from a scale request at the manager's API to the new endpoint's
# FDB entry programmed on every other agent. A 10-node lab, a real manager and 10 real agents
# (`--data-plane`); a service of `sleep` tasks scaled up by one, EVENTS times, one event at a time.
# Each agent records when it first programmed each peer's FDB entry (GET /v1/programmed on its
# admin socket), so the latency is read from the agents' own clocks, not from polling.
#
#   scripts/bench/agent-convergence.sh [EVENTS]      (root; build first: swift build --product shoald)
#   SHOAL_BIN=.build/release scripts/bench/agent-convergence.sh 100
#                                        (a release build: swift build -c release --product shoald)
#
# An event starts just before its scale request is written (agent-convergence-client.py) and ends
# when the last other agent programmed the new endpoint; the split per step comes from the owner's
# and the others' GET /v1/timeline.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
events=${1:-100}
if [[ ${2:-} != inside-lab ]]; then
    [[ $(id -u) -eq 0 ]] || { echo "error: needs root" >&2; exit 1; }
    exec "$here/../netns-lab" run --nodes 10 -- "$0" "$events" inside-lab
fi
# shellcheck source=../../tests/netns/lib/agent-lab.bash
source "$here/../../tests/netns/lib/agent-lab.bash"
trap agent_lab_cleanup EXIT
nodes=10

start_manager
for i in $(seq $nodes); do start_agent "$i" --resync 30; done
wait_for "$nodes ready nodes" 300 counts $nodes ready_nodes
net_id=$(call POST /networks -d '{"name":"conv","subnet":"10.77.0.0/16"}' | jq -r .id)
spec() { jq -nc --argjson n "$1" '{name: "conv", replicas: $n, command: ["sleep", "100000"], networks: [{target: "conv"}]}'; }
call POST /services -d "$(spec $nodes)" >/dev/null
wait_for "$nodes running tasks" 300 counts $nodes tasks_in_running_state
# Scale requests go through one client process: a curl started per request put its own start
# (exec, library loading: 80-120 ms at load 12) inside every event's latency.
coproc api { exec python3 -u "$here/agent-convergence-client.py" "$socket"; }

: >"$data/events"
for k in $(seq "$events"); do
    replicas=$((nodes + k))
    version=$(call GET /services/conv | jq .version)
    # The update returns once the manager's reconcile pass (new task, address, placement) committed.
    # t0: just before the request is written (the client is one long-lived process).
    echo "POST /services/conv/update?version=$version $(spec $replicas)" >&"${api[1]}"
    read -r t0 status api_s <&"${api[0]}"
    [[ $status == 200 ]] || fail "event $k: the scale request answered HTTP $status"
    # Nothing polls while the change propagates (the polling's curl and jq would share the two
    # cores with the agents); the latency is read from the agents' own timestamps afterwards.
    sleep 0.3
    # Wait until the new task runs and every other agent programmed its MAC.
    for _ in $(seq 500); do
        read -r mac node task < <(call GET /tasks | jq -r --argjson s "$replicas" \
            '.[] | select(.slot == $s and .state == "running") | "\(.endpoints[0].mac) \(.nodeID) \(.id)"') || true
        [[ -n ${mac:-} ]] && break
        sleep 0.05
    done
    [[ -n ${mac:-} ]] || fail "event $k: the new task never ran"
    owner=$(node_name "$node")
    for _ in $(seq 500); do
        done_count=0
        for i in $(seq $nodes); do
            [[ node$i == "$owner" ]] && { done_count=$((done_count + 1)); continue; }
            curl -sS --unix-socket "$data/node$i/run/agent.sock" http://agent/v1/programmed |
                jq -e --arg k "$net_id/$mac" 'has($k)' >/dev/null && done_count=$((done_count + 1))
        done
        [[ $done_count == "$nodes" ]] && break
        sleep 0.05
    done
    [[ $done_count == "$nodes" ]] || fail "event $k: $mac not programmed everywhere"
    echo "$t0 $mac $owner $task $api_s" >>"$data/events"
    mac=
done
for i in $(seq $nodes); do
    curl -sS --unix-socket "$data/node$i/run/agent.sock" http://agent/v1/programmed >"$data/programmed-node$i.json"
    curl -sS --unix-socket "$data/node$i/run/agent.sock" http://agent/v1/timeline >"$data/timeline-node$i.json"
done
python3 - "$data" "$net_id" "$nodes" <<'PY'
import json, statistics, sys
data, net, nodes = sys.argv[1], sys.argv[2], int(sys.argv[3])
programmed = {f"node{i}": json.load(open(f"{data}/programmed-node{i}.json")) for i in range(1, nodes + 1)}
timelines = {f"node{i}": json.load(open(f"{data}/timeline-node{i}.json")) for i in range(1, nodes + 1)}
latencies = []
# The split, per event (ms): request -> the owner's view holds the task (manager: orchestrate,
# allocate, feed); -> its namespace and veths are in place (owner's reconcile); -> spawned; ->
# the other agents' views hold the endpoint (report running + manager + feed); -> programmed on
# the slowest of them.
steps = {"API call (update + reconcile pass, one commit)": [], "manager+feed to owner": [], "owner reconcile (netns, veths)": [], "dns listeners": [], "spawn": [],
         "report+manager+feed to others": [], "(within it: spawn -> report answered, commit included)": [],
         "others' reconcile": []}
for line in open(f"{data}/events"):
    t0, mac, owner, task, api = line.split()
    t0 = float(t0)
    times = [p[f"{net}/{mac}"] for name, p in programmed.items() if name != owner]
    latencies.append((max(times) - t0) * 1000)
    mine = timelines[owner].get(f"task/{task}", {})
    peers = [t[f"peer/{net}/{mac}"] for name, t in timelines.items() if name != owner and f"peer/{net}/{mac}" in t]
    if not all(k in mine for k in ("view", "applied", "spawned")) or not peers:
        continue
    last = max(peers, key=lambda p: p["programmed"])
    steps["API call (update + reconcile pass, one commit)"].append(float(api) * 1000)
    steps["manager+feed to owner"].append((mine["view"] - t0) * 1000)
    steps["owner reconcile (netns, veths)"].append((mine["applied"] - mine["view"]) * 1000)
    if "dns" in mine:
        steps.setdefault("dns listeners", []).append((mine["dns"] - mine["applied"]) * 1000)
    steps["spawn"].append((mine["spawned"] - mine.get("dns", mine["applied"])) * 1000)
    steps["report+manager+feed to others"].append((last["view"] - mine["spawned"]) * 1000)
    if "acked" in mine:
        steps["(within it: spawn -> report answered, commit included)"].append((mine["acked"] - mine["spawned"]) * 1000)
    steps["others' reconcile"].append((last["programmed"] - last["view"]) * 1000)
latencies.sort()
def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * len(values))) - 1)]
print(f"events: {len(latencies)} on {nodes} agents")
print(f"scale request -> endpoint programmed on every other agent: p50 {pct(latencies, 50):.1f} ms, p99 {pct(latencies, 99):.1f} ms, max {latencies[-1]:.1f} ms")
for name, values in steps.items():
    if values:
        print(f"  {name}: p50 {pct(values, 50):.1f} ms, p99 {pct(values, 99):.1f} ms")
PY
