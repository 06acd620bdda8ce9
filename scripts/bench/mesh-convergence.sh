#!/usr/bin/env bash
# Convergence of the routing mesh: from a scale request at the manager's API to the new task's
# address being an IPVS destination (weight 1, taking traffic) of the service's VIP in every node's
# network namespace. A 3-node lab in the kernel VM (this host has no IPVS), a real manager and 3
# real agents; a VIP service of `sleep` tasks scaled up by one, EVENTS times, one event at a time.
# Each agent records when it first gave each destination a weight (GET /v1/mesh/programmed on its
# admin socket), so the latency is read from the agents' own clocks, not from polling ipvsadm;
# at the end `ipvsadm -Ln` in every namespace must list every task.
#
#   scripts/bench/mesh-convergence.sh [EVENTS]      (root; build first: swift build --product shoald)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
events=${1:-20}
if [[ ${2:-} != inside-lab ]]; then
    [[ $(id -u) -eq 0 ]] || { echo "error: needs root" >&2; exit 1; }
    if [[ -e /proc/net/ip_vs ]] || modprobe ip_vs 2>/dev/null; then
        exec "$here/../netns-lab" run --nodes 3 -- "$0" "$events" inside-lab
    fi
    exec "$here/../kernel-vm" --timeout 1800 "$0" "$events"
fi
# The vm tier's lab: agent lab, heartbeat period for emulation, IPVS read-back helpers.
# shellcheck source=../../tests/vm/lib/mesh-lab.bash
source "$here/../../tests/vm/lib/mesh-lab.bash"
nodes=3

start_manager
for i in $(seq $nodes); do start_agent "$i"; done
wait_for "$nodes ready nodes" 100 counts $nodes ready_nodes
net_id=$(call POST /networks -d '{"name":"conv","subnet":"10.78.0.0/16"}' | jq -r .id)
spec() { jq -nc --argjson n "$1" '{name: "conv", replicas: $n, command: ["sleep", "100000"], networks: [{target: "conv"}]}'; }
call POST /services -d "$(spec $nodes)" >/dev/null
wait_for "$nodes running tasks" 200 counts $nodes tasks_in_running_state
mark=$(fwmark_of conv "$net_id")
step "lab ready, service conv (FWM $mark) on $nodes nodes"

: >"$data/events"
for k in $(seq "$events"); do
    replicas=$((nodes + k))
    version=$(call GET /services/conv | jq .version)
    t0=$(date +%s.%N)
    call POST "/services/conv/update?version=$version" -d "$(spec $replicas)" >/dev/null
    # Nothing polls while the change propagates (curl and jq would share the cores with the agents).
    sleep 0.5
    address=
    for _ in $(seq 400); do
        address=$(call GET /tasks | jq -r --argjson s "$replicas" \
            '.[] | select(.slot == $s and .state == "running") | .endpoints[0].address') || true
        [[ -n $address ]] && break
        sleep 0.1
    done
    [[ -n $address ]] || fail "event $k: the new task never ran"
    key="$net_id/FWM $mark/$address"
    for _ in $(seq 400); do
        done_count=0
        for i in $(seq $nodes); do
            curl -sS --unix-socket "$data/node$i/run/agent.sock" http://agent/v1/mesh/programmed |
                jq -e --arg k "$key" 'has($k)' >/dev/null && done_count=$((done_count + 1))
        done
        [[ $done_count == "$nodes" ]] && break
        sleep 0.1
    done
    [[ $done_count == "$nodes" ]] || fail "event $k: $address not a destination on every node"
    echo "$t0 $key" >>"$data/events"
    step "event $k: $address on every node"
done
step "$events events"
for i in $(seq $nodes); do
    curl -sS --unix-socket "$data/node$i/run/agent.sock" http://agent/v1/mesh/programmed >"$data/mesh-node$i.json"
done
# The kernel agrees: every node's namespace lists every task of the service at weight 1.
total=$((nodes + events))
while read -r n f; do
    got=$(ipvs_of "$f" | awk -v m="$mark" '$1 == m && $3 == 1' | wc -l)
    [[ $got == "$total" ]] || fail "node$n: $got destinations of conv at weight 1 in ipvsadm -Ln, expected $total"
done <<<"$(network_namespaces "$net_id")"
python3 - "$data" "$nodes" <<'PY'
import json, sys
data, nodes = sys.argv[1], int(sys.argv[2])
programmed = [json.load(open(f"{data}/mesh-node{i}.json")) for i in range(1, nodes + 1)]
latencies = []
for line in open(f"{data}/events"):
    t0, key = line.rstrip("\n").split(" ", 1)
    latencies.append((max(p[key] for p in programmed) - float(t0)) * 1000)
def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, max(0, int(round(p / 100 * len(values))) - 1))]
print(f"events: {len(latencies)} on {nodes} nodes")
print(f"scale request -> destination at weight 1 in IPVS on every node: p50 {pct(latencies, 50):.0f} ms, "
      f"p99 {pct(latencies, 99):.0f} ms, min {min(latencies):.0f} ms, max {max(latencies):.0f} ms")
PY
echo "ok: ipvsadm -Ln on every node lists all $total tasks of conv at weight 1"
