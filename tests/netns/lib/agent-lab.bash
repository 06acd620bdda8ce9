# Helpers for the agent tests: a real manager in the lab's underlay namespace (172.29.0.1) and real
# `shoald agent --data-plane` processes in the node namespaces. Sourced from inside
# `scripts/netns-lab run`, so the LAB_* variables are set. Everything is removed by agent_lab_cleanup.
# shellcheck shell=bash

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
# SHOAL_BIN: the built binaries (the vm tier passes it: SwiftPM is slow to start under emulation).
bin=${SHOAL_BIN:-$(cd "$root" && swift build --show-bin-path)}
shoald="$bin/shoald"
data=$(mktemp -d /tmp/shoal-agent-test.XXXXXX)
socket="$data/manager/run/shoald.sock"
manager_ip=172.29.0.1
declare -A agent_pids=()
manager_pid=

fail() {
    echo "FAIL: $*" >&2
    for f in "$data"/node*.log "$data"/manager.log; do
        [[ -f $f ]] && { echo "--- $f" >&2; tail -n 30 "$f" >&2; }
    done
    # To look at a failed lab before it is removed: AGENT_TEST_PAUSE=SECONDS.
    [[ -n ${AGENT_TEST_PAUSE:-} ]] && { echo "paused; data in $data" >&2; sleep "$AGENT_TEST_PAUSE"; }
    exit 1
}

call() {
    local method=$1 path=$2
    shift 2
    curl -sS --fail-with-body --unix-socket "$socket" -X "$method" -H 'content-type: application/json' \
        "http://localhost/v1$path" "$@"
}

# Kills every process whose network namespace is the one bound at $1. `-ef` compares device and
# inode without a `stat` process per pid: after the 100-event convergence benchmark (130 namespaces,
# 230 processes) the forks made the cleanup take most of an hour at load 20.
kill_in_netns() {
    local pid
    [[ -e $1 ]] || return 0
    for pid in /proc/[0-9]*; do
        [[ $pid/ns/net -ef $1 ]] && kill -9 "${pid#/proc/}" 2>/dev/null
    done
    return 0
}

# stopped PID: true once the process is gone or a zombie (our own children stay zombies until
# waited for). Read by bash itself: a process per pid and try would make the 5 s wait a minute
# under TCG. (The third field is the state: the names here, shoald, hold no space.)
stopped() {
    local pid comm state
    read -r pid comm state _ 2>/dev/null <"/proc/$1/stat" || return 0
    [[ -z $state || $state == Z ]]
}

# Unmounts every namespace file and the run directories, each as often as it is mounted (a mount
# can be stacked or propagated more than once; one `umount -l` leaves the rest busy).
unmount_lab_namespaces() {
    local f n
    for f in "$data"/node*/run/netns/* "$data"/node*/run/netns; do
        [[ -e $f ]] || continue
        [[ -f $f ]] && kill_in_netns "$f"
        for n in 1 2 3 4 5 6 7 8; do umount -l "$f" 2>/dev/null || break; done
    done
}

agent_lab_cleanup() {
    local pid pids=("${agent_pids[@]}" $manager_pid) i alive
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    # Wait (5 s at most) until they are gone: an agent still stopping can restart a killed task and
    # bind its namespace again after the unmounts below, and then `rm` finds it busy.
    for i in $(seq 50); do
        alive=0
        for pid in "${pids[@]}"; do stopped "$pid" || alive=1; done
        ((alive)) || break
        sleep 0.1
    done
    for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    unmount_lab_namespaces
    rm -rf "$data" 2>/dev/null || {
        unmount_lab_namespaces
        rm -rf "$data" || grep -F "$data" /proc/self/mountinfo >&2
    }
}

start_manager() {
    ip -n "$LAB_UNDERLAY_NS" addr add "$manager_ip/24" dev ul0
    ip netns exec "$LAB_UNDERLAY_NS" "$shoald" manager init --data-dir "$data/manager" \
        --advertise-addr "$manager_ip" --join-port 2378 >"$data/init.txt"
    ip netns exec "$LAB_UNDERLAY_NS" "$shoald" manager --data-dir "$data/manager" --listen "$manager_ip:2377" \
        --join-listen "$manager_ip:2378" --heartbeat-period "${AGENT_LAB_HEARTBEAT:-1}" \
        ${AGENT_LAB_MANAGER_ARGS:-} >"$data/manager.log" 2>&1 &
    manager_pid=$!
    for _ in $(seq 100); do call GET /info >/dev/null 2>&1 && return 0; sleep 0.1; done
    fail "the manager did not start"
}

# start_agent I [extra args]: node I's agent, in the node namespace but the host's mount namespace
# (nsenter --net, not `ip netns exec`), so its namespace bind mounts outlive it.
start_agent() {
    local i=$1 ns_var ip_var token
    shift
    ns_var="LAB_NODE_${i}_NS"
    ip_var="LAB_NODE_${i}_IP"
    token=$(grep -o 'SHOAL-1-[0-9a-z-]*' "$data/init.txt" | head -n 1)
    local join=()
    [[ -f $data/node$i/node.crt ]] || join=(--join "$manager_ip:2378" --token "$token")
    nsenter --net="/run/netns/${!ns_var}" "$shoald" agent --data-dir "$data/node$i" "${join[@]}" --name "node$i" \
        --advertise-addr "${!ip_var}" --data-plane --resync 2 --stop-grace 2 --restart-delay 1 "$@" \
        >>"$data/node$i.log" 2>&1 &
    agent_pids[$i]=$!
}

# The agent's admin API (the data plane's desired and applied state).
# The manager and agents 1..N (each with the extra agent arguments), then waits until all N are ready.
start_cluster() { # N [agent args...]
    local n=$1 i
    start_manager
    for ((i = 1; i <= n; i++)); do start_agent "$i" "${@:2}"; done
    wait_for "$n ready nodes" 100 counts "$n" ready_nodes
}

agent_state() { curl -sS --unix-socket "$data/node$1/run/agent.sock" http://agent/v1/state; }

wait_for() {
    local what=$1 tries=$2
    shift 2
    for _ in $(seq "$tries"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
    fail "timed out waiting for $what"
}

running_tasks() {
    call GET /tasks | jq -r '[.[] | select(.desiredState == "running" and .state == "running")] | length'
}

# Tasks the manager has as running, whatever their desired state (a draining one still counts).
tasks_in_running_state() { call GET /tasks | jq -r '[.[] | select(.state == "running")] | length'; }

ready_nodes() { call GET /nodes | jq -r '[.[] | select(.state == "ready")] | length'; }

# True when CMD... prints exactly N: `wait_for "3 ready nodes" 100 counts 3 ready_nodes`.
counts() { [[ $("${@:2}") == "$1" ]]; }

# Node name (node<i>) of a node id.
node_name() { call GET "/nodes/$1" | jq -r .name; }

# The path of a task's namespace file, on whichever node runs it.
task_netns() {
    local task=$1 node
    node=$(call GET /tasks | jq -r --arg id "$task" '.[] | select(.id == $id) | .nodeID')
    echo "$data/$(node_name "$node")/run/netns/task-$task"
}

# A tiny HTTP server that answers with its task's name (the agent sets SHOAL_TASK_NAME).
cat >"$data/echo.py" <<'PY'
import http.server, os
name = os.environ["SHOAL_TASK_NAME"].encode()
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("content-length", str(len(name)))
        self.end_headers()
        self.wfile.write(name)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("0.0.0.0", 8080), Handler).serve_forever()
PY
