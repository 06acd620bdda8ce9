# Helpers for the mesh tests of the vm tier: the agent lab (tests/netns/lib/agent-lab.bash) plus
# IPVS read-back in the nodes' network namespaces and a bounded request loop run inside a task.
# Sourced from inside `scripts/netns-lab run`; everything is removed by the EXIT trap.
# shellcheck shell=bash

mesh_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
# Starting SwiftPM under emulation costs seconds: use the built binaries directly.
# Under emulation (and a loaded host) heartbeats come late: 1 s periods mark nodes DOWN.
export AGENT_LAB_HEARTBEAT=${AGENT_LAB_HEARTBEAT:-10}
export SHOAL_BIN=${SHOAL_BIN:-$mesh_root/.build/debug}
[[ -x $SHOAL_BIN/shoald ]] || { echo "FAIL: build first (swift build): no $SHOAL_BIN/shoald" >&2; exit 1; }
# shellcheck source=../../netns/lib/agent-lab.bash
source "$mesh_root/tests/netns/lib/agent-lab.bash"
loop_pid=
watch_pid=
mesh_started=$SECONDS
# wait_for WHAT TRIES CMD...: agent-lab's, plus a progress line every 30 s (the VM is slow: this
# shows what a long run waits for). Under TCG one try of a check that reads IPVS on 3 nodes takes
# 1-3 s, so TRIES bounds the tries, not the seconds.
wait_for() {
    local what=$1 tries=$2 i last=$SECONDS
    shift 2
    for ((i = 1; i <= tries; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        if ((SECONDS - last >= 30)); then
            step "still waiting for $what ($i of $tries tries)"
            last=$SECONDS
        fi
        sleep 0.2
    done
    fail "timed out waiting for $what"
}
# step WHAT: a progress line with the seconds since the start (the VM is slow: this shows where).
step() { echo "[$((SECONDS - mesh_started)) s] $*" >&2; }
mesh_cleanup() {
    [[ -n $loop_pid ]] && kill "$loop_pid" 2>/dev/null
    [[ -n $watch_pid ]] && kill "$watch_pid" 2>/dev/null
    # MESH_LAB_LOGS=DIR keeps the lab's logs (the VM's /tmp is gone after the run).
    [[ -n ${MESH_LAB_LOGS:-} ]] && mkdir -p "$MESH_LAB_LOGS" && cp "$data"/*.log "$MESH_LAB_LOGS"/ 2>/dev/null
    agent_lab_cleanup
}
trap mesh_cleanup EXIT

# vip_of SERVICE NETWORK_ID: the service's VIP on that network.
vip_of() { call GET "/services/$1" | jq -r --arg n "$2" '.virtualIPs[] | select(.networkID == $n) | .address'; }

# running_task_ids SERVICE: ids of its tasks that run and should.
running_task_ids() {
    call GET /tasks | jq -r --arg s "$1" '.[] | select(.serviceName == $s and .state == "running" and .desiredState == "running") | .id'
}

# fwmark_of SERVICE NETWORK_ID: 0x100 + the VIP's offset in the subnet (MeshNames.mark).
fwmark_of() {
    local vip subnet a b c d e f g h len
    vip=$(vip_of "$1" "$2")
    subnet=$(call GET "/networks/$2" | jq -r .subnet)
    IFS=. read -r a b c d <<<"$vip"
    IFS=./ read -r e f g h len <<<"$subnet"
    echo $((256 + ((a << 24 | b << 16 | c << 8 | d) & ((1 << (32 - len)) - 1))))
}

# The nodes whose agent has the network's namespace, as "I PATH" lines.
network_namespaces() {
    local n f
    for n in 1 2 3; do
        f="$data/node$n/run/netns/net-$1"
        [[ -e $f ]] && echo "$n $f"
    done
    return 0
}

# ipvs_of PATH: `ipvsadm -Ln` inside the namespace, as "FWM MARK SCHED", "VS ADDRESS" and "MARK
# ADDRESS WEIGHT" lines. Parsed by bash itself: under TCG every process start costs 60-300 ms and
# the waits call this for 3 nodes per try (with awk, sort and xargs a try took ~6 s at load 9).
ipvs_of() {
    local listing a b c d mark=
    listing=$(nsenter --net="$1" ipvsadm -Ln) || return 1
    while read -r a b c d _; do
        case $a in
        FWM)
            mark=$b
            echo "FWM $b $c"
            ;;
        TCP | UDP)
            mark=
            echo "VS $b"
            ;;
        -\>) if [[ -n $mark ]]; then echo "$mark ${b%:0} $d"; fi ;;
        esac
    done <<<"$listing"
}

# ascending N...: the numbers (small, non-negative) in ascending order on one line, without a process.
ascending() {
    local -a count=() out=()
    local v i
    for v; do count[v]=$((${count[v]:-0} + 1)); done
    for v in "${!count[@]}"; do
        for ((i = 0; i < count[v]; i++)); do out+=("$v"); done
    done
    echo "${out[*]}"
}

# ns_weights PATH SERVICE_MARK: the mark's destination weights in that namespace, ascending.
ns_weights() {
    local m addr w
    local -a ws=()
    while read -r m addr w; do
        if [[ $m == "$2" ]]; then ws+=("$w"); fi
    done <<<"$(ipvs_of "$1")"
    ascending "${ws[@]}"
}

# weights_of NETWORK_ID SERVICE_MARK: "node<i>: W W ..." for each node with the network's namespace.
weights_of() {
    local n f
    while read -r n f; do
        echo "node$n: $(ns_weights "$f" "$2")"
    done <<<"$(network_namespaces "$1")"
}

# same_weights "W ..." LINES: every "node<i>: ..." line of LINES (weights_of's) shows exactly these.
same_weights() {
    local line seen=0
    while read -r line; do
        [[ ${line#*: } == "$1" ]] || return 1
        seen=$((seen + 1))
    done <<<"$2"
    ((seen > 0))
}

# expect_ipvs NETWORK_ID SERVICE W...: every node's namespace holds exactly one FWM service per VIP
# service on the network (rr), no other service, and SERVICE's destinations are its running tasks'
# addresses with these weights.
expect_ipvs() {
    local net=$1 service=$2
    shift 2
    local want_marks want_dests mark n f listing s
    want_marks=$(for s in $(call GET /services | jq -r --arg n "$net" '.[] | select(.spec.endpointMode != "dnsrr") |
        select(any(.networkIDs[]; . == $n)) | .spec.name'); do echo "FWM $(fwmark_of "$s" "$net") rr"; done | sort)
    mark=$(fwmark_of "$service" "$net")
    want_dests=$(call GET /tasks | jq -r --arg s "$service" --arg n "$net" '.[] | select(.serviceName == $s and
        .state == "running" and .desiredState == "running") | .endpoints[] | select(.networkID == $n) | .address' |
        sort | while read -r a; do echo "$mark $a"; done)
    while read -r n f; do
        listing=$(ipvs_of "$f")
        [[ $(grep '^FWM\|^VS' <<<"$listing" | sort) == "$want_marks" ]] ||
            fail "node$n: ipvs services [$(grep '^FWM\|^VS' <<<"$listing" | xargs)], expected [$(xargs <<<"$want_marks")]"
        [[ $(awk -v m="$mark" '$1 == m { print $1, $2 }' <<<"$listing" | sort) == "$want_dests" ]] ||
            fail "node$n: destinations of $service [$(awk -v m="$mark" '$1 == m' <<<"$listing" | xargs)], expected [$(xargs <<<"$want_dests")]"
        [[ $(awk -v m="$mark" '$1 == m { print $3 }' <<<"$listing" | sort | xargs) == "$*" ]] ||
            fail "node$n: weights of $service [$(awk -v m="$mark" '$1 == m { print $3 }' <<<"$listing" | xargs)], expected [$*]"
    done <<<"$(network_namespaces "$net")"
}

# A client that requests URL every 200 ms (2 s timeout each) until told to stop (at most 3,000
# requests), then prints "OK FAILED" and the failures' errors on stderr.
cat >"$data/loop.py" <<'PY'
import os, sys, time, urllib.request
url, stop = sys.argv[1], sys.argv[2]
ok = failed = 0
for _ in range(3000):
    if os.path.exists(stop):
        break
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            response.read()
        ok += 1
    except Exception as error:
        failed += 1
        print(f"request failed: {error}", file=sys.stderr)
    time.sleep(0.2)
print(ok, failed, flush=True)
PY

# start_request_loop NETNS VIP: requests http://VIP:8080/ from inside NETNS in the background.
start_request_loop() {
    rm -f "$data/loop.stop"
    nsenter --net="$1" python3 "$data/loop.py" "http://$2:8080/" "$data/loop.stop" >"$data/loop.out" 2>"$data/loop.err" &
    loop_pid=$!
}

# stop_request_loop: prints "OK FAILED".
stop_request_loop() {
    touch "$data/loop.stop"
    wait "$loop_pid" || true
    loop_pid=
    cat "$data/loop.err" >&2
    cat "$data/loop.out"
}

# The mesh tests' workload: HTTP on 8080 and UDP on 9090, each answering with the task's name;
# GET /health answers 503 while the file $SICK_DIR/<task name> exists (the health check's flag).
sick_dir="$data/sick"
mkdir -p "$sick_dir"
cat >"$data/mesh.py" <<'PY'
import http.server, os, socket, sys, threading
name = os.environ["SHOAL_TASK_NAME"].encode()
sick = os.path.join(sys.argv[1], os.environ["SHOAL_TASK_NAME"])
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        code = 503 if self.path == "/health" and os.path.exists(sick) else 200
        self.send_response(code)
        self.send_header("content-length", str(len(name)))
        self.end_headers()
        self.wfile.write(name)
    def log_message(self, *args):
        pass
def udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", 9090))
    while True:
        _, peer = s.recvfrom(512)
        s.sendto(name, peer)
threading.Thread(target=udp, daemon=True).start()
http.server.ThreadingHTTPServer(("0.0.0.0", 8080), Handler).serve_forever()
PY

# probe.py tcp|udp HOST PORT COUNT: COUNT requests, each on a new socket (a new source port, so
# IPVS schedules each afresh); prints one line per request: the answer, "refused" or "error: ...".
cat >"$data/probe.py" <<'PY'
import socket, sys, urllib.request
proto, host, port, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
for _ in range(count):
    try:
        if proto == "tcp":
            with urllib.request.urlopen(f"http://{host}:{port}/", timeout=3) as response:
                print(response.read().decode(), flush=True)
        else:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(3)
            s.connect((host, port))
            s.send(b"who")
            print(s.recv(512).decode(), flush=True)
            s.close()
    except ConnectionRefusedError:
        print("refused", flush=True)
    except Exception as error:
        if isinstance(getattr(error, "reason", None), ConnectionRefusedError):
            print("refused", flush=True)
        else:
            print(f"error: {error}", flush=True)
PY

# probe NETNS_PATH PROTO HOST PORT COUNT: probe.py run inside a namespace.
probe() { nsenter --net="$1" python3 "$data/probe.py" "${@:2}"; }

# The lab's outside client: the underlay namespace (the manager's 172.29.0.1), as a user would.
outside=/run/netns/$LAB_UNDERLAY_NS

# names_of SERVICE [NODE]: sorted names of the service's running tasks (on node NODE only).
names_of() {
    local node_id=
    [[ -n ${2:-} ]] && node_id=$(call GET "/nodes/$2" | jq -r .id)
    call GET /tasks | jq -r --arg s "$1" --arg n "$node_id" '.[] | select(.serviceName == $s and
        .state == "running" and .desiredState == "running" and ($n == "" or .nodeID == $n)) | .name' | sort
}

# mesh_spec NAME REPLICAS [JQ]: a service running mesh.py with a health check on GET /health
# (every 2 s, 3 s timeout; 5 failures make it unhealthy), JQ applied to the spec (ports, placement, env...).
# The start period matters under TCG: python3 took 10-25 s to listen there (load 7-9), so without
# one a new task failed its 5 probes, was marked unhealthy and replaced 10 s later, again and again
# (Docker's rules: failures while starting count unless in the start period). That churn is the likely
# reason "3 healthy pub tasks" never came true in a run beside another VM.
mesh_spec() {
    jq -nc --arg py "$data/mesh.py" --arg sick "$sick_dir" --arg name "$1" --argjson n "$2" \
        "{name: \$name, replicas: \$n, command: [\"/usr/bin/python3\", \$py, \$sick],
          healthCheck: {http: {port: 8080, path: \"/health\"}, intervalSeconds: 2, timeoutSeconds: 3, retries: 5,
                        startPeriodSeconds: 120}}
         | ${3:-.}"
}

# healthy_running SERVICE: how many of its tasks run, should, and are healthy.
healthy_running() {
    call GET /tasks | jq -r --arg s "$1" '[.[] | select(.serviceName == $s and .state == "running" and
        .desiredState == "running" and .health == "healthy")] | length'
}
