#!/usr/bin/env bash
# Health checks end to end on a 2-node lab with a real manager and real agents: a service whose
# tasks serve /health over HTTP (python's http.server, one directory per task). A new task joins as
# unhealthy (weight 0) and becomes up once its probe passes; the test deletes one task's file: the
# manager shows the task unhealthy, the other node's agent shows its endpoint unhealthy in /v1/state;
# the file put back, it recovers. Deleted again and left so, the task is replaced by a new one.
# TCP and command checks pass from inside their tasks' namespaces.
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
mkdir -p "$data/www"

# Interval 1 s, 4 retries: unhealthy after 4 failed probes, replaced 4 s later (retries x interval).
call POST /services -d "$(jq -nc --arg www "$data/www" '{name: "web", replicas: 2, networks: [{target: "blue"}],
    env: ["WWW=\($www)"],
    command: ["sh", "-c", "d=$WWW/$SHOAL_TASK_NAME; mkdir -p $d; echo ok >$d/health; exec python3 -m http.server 8080 --directory $d"],
    healthCheck: {http: {port: 8080, path: "/health"}, intervalSeconds: 1, timeoutSeconds: 1, retries: 4}}')" >/dev/null

# A TCP and a command check reach healthy only from inside the task's namespace (nothing listens on
# 8081/8082 in the node's): both probe kinds run where the task runs.
call POST /services -d '{"name": "tcp", "networks": [{"target": "blue"}],
    "command": ["python3", "-m", "http.server", "8081"],
    "healthCheck": {"tcpPort": 8081, "intervalSeconds": 1, "timeoutSeconds": 1}}' >/dev/null
call POST /services -d '{"name": "cmd", "networks": [{"target": "blue"}],
    "command": ["python3", "-m", "http.server", "8082"],
    "healthCheck": {"command": ["python3", "-c", "import socket; socket.create_connection((\"127.0.0.1\", 8082), 1)"],
        "intervalSeconds": 1, "timeoutSeconds": 2}}' >/dev/null

task_field() { call GET /tasks | jq -r --arg n "$1" ".[] | select(.name == \$n) | $2"; }
# The state node I's agent has for the endpoint of task NAME.
endpoint_state() { agent_state "$1" | jq -r --arg n "$2" '.endpointStates[$n] // "none"'; }

service_healthy() {
    call GET /tasks | jq -r --arg s "$1" '[.[] | select(.serviceName == $s and .desiredState == "running" and .health == "healthy")] | length'
}
wait_for "two healthy web tasks" 150 counts 2 service_healthy web
wait_for "the TCP check to pass" 50 counts 1 service_healthy tcp
wait_for "the command check to pass" 50 counts 1 service_healthy cmd
call DELETE /services/tcp >/dev/null
call DELETE /services/cmd >/dev/null
read -r name node < <(call GET /tasks | jq -r '[.[] | select(.desiredState == "running")] | sort_by(.name) | .[0] | "\(.name) \(.nodeID)"')
this=$(node_name "$node")
other=$((3 - ${this#node}))
wait_for "$name up on node$other" 50 counts up endpoint_state "$other" "$name"
echo "both tasks healthy; node$other has $name up"

rm "$data/www/$name/health"
wait_for "$name unhealthy at the manager" 40 counts unhealthy task_field "$name" .health
wait_for "$name unhealthy on node$other" 20 counts unhealthy endpoint_state "$other" "$name"
status=$(task_field "$name" .status)
[[ $status == "health check failed: HTTP GET /health: status 404" ]] || fail "status of $name: $status"
call GET /services/web | jq -r .status | grep -q '; 1 unhealthy' || fail "service status: $(call GET /services/web | jq -r .status)"
ps=$(SHOAL_SOCKET=$socket "$bin/shoalctl" service ps web)
grep -q "running (unhealthy) *health check failed: HTTP GET /health: status 404" <<<"$ps" || fail "service ps: $ps"
echo ok >"$data/www/$name/health"
wait_for "$name healthy again" 20 counts healthy task_field "$name" .health
wait_for "$name up again on node$other" 20 counts up endpoint_state "$other" "$name"
[[ $(task_field "$name" .desiredState) == running ]] || fail "$name was replaced although it recovered"
echo "$name: unhealthy (404) at the manager and on node$other, then recovered"

rm "$data/www/$name/health"
wait_for "$name unhealthy again" 40 counts unhealthy task_field "$name" .health
wait_for "$name replaced" 60 counts shutdown task_field "$name" .desiredState
task_field "$name" .status | grep -q '^unhealthy for more than 4 s: replaced' || fail "status: $(task_field "$name" .status)"
wait_for "two healthy tasks after the replacement" 150 counts 2 service_healthy web
[[ $(call GET /tasks | jq -r --arg n "$name" '[.[] | select(.desiredState == "running" and .name == $n)] | length') == 0 ]] ||
    fail "$name still wanted"
echo "ok: unhealthy tasks leave their VIP everywhere, recover, and are replaced when they stay unhealthy"
