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
mesh_started=$SECONDS
# step WHAT: a progress line with the seconds since the start (the VM is slow: this shows where).
step() { echo "[$((SECONDS - mesh_started)) s] $*" >&2; }
mesh_cleanup() {
    [[ -n $loop_pid ]] && kill "$loop_pid" 2>/dev/null
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

# ipvs_of PATH: `ipvsadm -Ln` inside the namespace, as "FWM MARK SCHED" and "MARK ADDRESS WEIGHT" lines.
ipvs_of() {
    nsenter --net="$1" ipvsadm -Ln | awk '
        $1 == "FWM" { mark = $2; print "FWM", $2, $3; next }
        $1 == "TCP" || $1 == "UDP" { mark = ""; print "VS", $2; next }
        $1 == "->" && mark != "" { sub(/:0$/, "", $2); print mark, $2, $4 }'
}

# ipvs_weights_are NETWORK_ID SERVICE "W W ...": on every node with the namespace, the service's
# destinations have exactly these weights (sorted) and are the addresses of its running tasks.
ipvs_weights_are() {
    local mark n f got
    mark=$(fwmark_of "$2" "$1")
    while read -r n f; do
        got=$(ipvs_of "$f" | awk -v m="$mark" '$1 == m { print $3 }' | sort | xargs)
        [[ $got == "$3" ]] || return 1
    done <<<"$(network_namespaces "$1")"
}

# ipvs_has_weight NETWORK_ID SERVICE W: some node shows a destination of the service at weight W.
ipvs_has_weight() {
    local mark n f
    mark=$(fwmark_of "$2" "$1")
    while read -r n f; do
        ipvs_of "$f" | awk -v m="$mark" -v w="$3" '$1 == m && $3 == w { found = 1 } END { exit !found }' && return 0
    done <<<"$(network_namespaces "$1")"
    return 1
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

# A client that requests URL every 50 ms (2 s timeout each) until told to stop (at most 3,000
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
    time.sleep(0.05)
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
