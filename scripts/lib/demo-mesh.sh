#!/usr/bin/env bash
# The routing-mesh part of scripts/demo: a 3-node lab (a real manager and three agents with the
# data plane), service `web` with 3 replicas on node1 and node2 and port 80 published (to 8080)
# in ingress mode, then requests from outside (the lab's underlay namespace) to port 80 of every node's
# address, node3 (no task of web) included: each answer is the name of the replica that served it.
# Needs a kernel with IPVS: scripts/demo runs it inside the kernel VM when this one has none.
# Binaries: SHOAL_BIN (default .build/debug), built by scripts/demo first.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
if [[ ${1:-} != inside-lab ]]; then
    [[ $(id -u) -eq 0 ]] || { echo "error: the mesh demo needs root" >&2; exit 1; }
    [[ -e /proc/net/ip_vs ]] || modprobe ip_vs 2>/dev/null || true
    [[ -e /proc/net/ip_vs ]] || { echo "error: this kernel has no IPVS (run it as: scripts/kernel-vm $0)" >&2; exit 1; }
    exec "$root/scripts/netns-lab" run --nodes 3 -- "$0" inside-lab
fi
export SHOAL_BIN=${SHOAL_BIN:-$root/.build/debug}
# Under emulation heartbeats come late: a 10 s period keeps nodes ready.
export AGENT_LAB_HEARTBEAT=${AGENT_LAB_HEARTBEAT:-10}
# shellcheck source=../../tests/netns/lib/agent-lab.bash
source "$root/tests/netns/lib/agent-lab.bash"
trap agent_lab_cleanup EXIT

[[ ${KERNEL_VM:-} == 1 ]] && echo "inside the kernel VM (kernel $(uname -r), IPVS $(head -n 1 /proc/net/ip_vs | grep -o 'version [0-9.]*'))"
start_cluster 3
call GET /nodes | jq -r '.[] | "\(.name)  \(.address)  \(.state)"'
# The start period: under TCG python3 takes 10-25 s to listen, and failed probes while starting
# would otherwise mark a replica unhealthy and have it replaced before it ever served.
call POST /services -d "$(jq -nc --arg py "$data/echo.py" '{name: "web", replicas: 3,
    command: ["/usr/bin/python3", $py], placement: {constraints: ["node.hostname!=node3"]},
    healthCheck: {tcpPort: 8080, intervalSeconds: 1, timeoutSeconds: 2, startPeriodSeconds: 120},
    ports: [{protocol: "tcp", target: 8080, published: 80}]}')" |
    jq -c '{name: .spec.name, ports: [.ports[] | "\(.protocol)/\(.published)->\(.target) (\(.publishMode))"]}'
healthy() { call GET /tasks | jq '[.[] | select(.serviceName == "web" and .health == "healthy")] | length'; }
wait_for "3 healthy replicas" 300 counts 3 healthy
nodes=$(call GET /nodes)
call GET /tasks | jq -r --argjson nodes "$nodes" '($nodes | map({(.id): .name}) | add) as $name
    | .[] | select(.serviceName == "web") | "\(.name) on \($name[.nodeID])"' | sort
outside=/run/netns/$LAB_UNDERLAY_NS
for i in 1 2 3; do
    ip_var="LAB_NODE_${i}_IP"
    wait_for "port 80 on node$i" 150 nsenter --net="$outside" curl -sS --max-time 2 "http://${!ip_var}/"
done
echo "from outside (172.29.0.1), 3 requests to port 80 of each node:"
answers=()
for i in 1 2 3; do
    ip_var="LAB_NODE_${i}_IP"
    for _ in 1 2 3; do
        answer=$(nsenter --net="$outside" curl -sS --max-time 3 "http://${!ip_var}/")
        answers+=("$answer")
        echo "  node$i ${!ip_var}:80 -> $answer"
    done
done
distinct=$(printf '%s\n' "${answers[@]}" | sort -u | wc -l)
echo "distinct replicas answering: $distinct of 3"
echo "node1's IPVS for the published port (ingress namespace, firewall mark 0x10000 + 80):"
ingress_id=$(call GET /networks | jq -r '.[] | select(.ingress) | .id')
nsenter --net="$data/node1/run/netns/net-$ingress_id" ipvsadm -Ln | sed 's/^/  /'
((distinct == 3)) || { echo "error: the published port reached $distinct of the 3 replicas" >&2; exit 1; }
