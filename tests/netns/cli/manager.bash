# Shared by tests/netns/cli-*.sh: a real, secure `shoald manager` on loopback administered over its
# admin socket (SHOAL_SOCKET, so shoalctl needs no flags), nodes that register and heartbeat, and a
# stand-in agent that reports the tasks' states as a real agent would (agents do not run tasks yet).
# shellcheck shell=bash
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
export PATH="/opt/swift/usr/bin:$PATH"
bin=$(cd "$root" && swift build --show-bin-path)
shoald="$bin/shoald"
shoalctl="$bin/shoalctl"
[[ -x $shoald && -x $shoalctl ]] || { echo "FAIL: build shoald and shoalctl first (swift build)" >&2; exit 1; }
data=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$data"
}
trap cleanup EXIT
# A command that fails outside a check (set -e) names itself, so a flaky step is found from the log.
trap 'echo "FAIL: ${BASH_SOURCE[0]}:$LINENO: $BASH_COMMAND exited non-zero" >&2' ERR
fail() {
    echo "FAIL: $*" >&2
    [[ -n ${out:-} ]] && echo "$out" >&2
    exit 1
}
export SHOAL_SOCKET="$data/run/shoald.sock"
export SHOAL_CONTEXT="$data/context.json"
call() {
    local method=$1 path=$2
    shift 2
    curl -sS --fail-with-body --unix-socket "$SHOAL_SOCKET" -X "$method" -H 'content-type: application/json' \
        "http://localhost/v1$path" "$@"
}
revision() { call GET /info | jq .revision; }

start_manager() {
    local port=$((24000 + RANDOM % 4000))
    "$shoald" manager init --data-dir "$data" --advertise-addr 127.0.0.1 --join-port $((port + 1)) >/dev/null
    "$shoald" manager --data-dir "$data" --listen "127.0.0.1:$port" --join-listen "127.0.0.1:$((port + 1))" \
        >"$data/manager.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do call GET /info >/dev/null 2>&1 && return 0; sleep 0.1; done
    cat "$data/manager.log" >&2
    fail "the manager did not start"
}

# register_nodes N: nodes node1..N (workers) heartbeating every second.
register_nodes() {
    local i id
    for i in $(seq "$1"); do
        id=$(call POST /nodes/register -d "{\"name\":\"node$i\",\"address\":\"172.29.0.$((10 + i))\"}" | jq -r .id)
        (while [[ -d $data ]] && sleep 1; do call POST "/nodes/$id/heartbeat" >/dev/null 2>&1 || true; done) &
        pids+=($!)
    done
}

# The stand-in agent: assigned tasks start and run; tasks told to stop report shutdown. Tasks of
# services listed in $data/failing fail instead of running.
start_agent() {
    touch "$data/failing"
    (
        while [[ -d $data ]] && sleep 0.2; do
            call GET /tasks 2>/dev/null | jq -r '.[] | select(.nodeID != null and
                ((.desiredState == "running" and (.state == "assigned" or .state == "starting"))
                 or (.desiredState == "shutdown" and (.state == "assigned" or .state == "starting" or .state == "running"))))
                | "\(.id) \(.nodeID) \(.desiredState) \(.serviceName)"' |
                while read -r task node desired service; do
                    state=running
                    [[ $desired == shutdown ]] && state=shutdown
                    grep -qsx "$service" "$data/failing" && [[ $state == running ]] && state=failed
                    call POST "/tasks/$task/status" -d "{\"nodeID\":\"$node\",\"state\":\"$state\",\"message\":\"$state by the test agent\"}" \
                        >/dev/null 2>&1 || true
                done
        done
    ) &
    pids+=($!)
}
