# Scale and rolling update of tests/vm/mesh-vip.sh's lab (sourced by it; uses net_id, client_ns and
# the helpers): service sc (mesh.py with its HTTP health check, so a new task joins the VIP only
# once healthy; network blue, node1/node2). Under a bounded request loop from the client task on
# node3 to sc's VIP, scale 3 -> 5 -> 1 and a rolling update (start-first) to 2 replicas lose no
# request. `ipvsadm -Ln` in every node's namespace shows exactly 5 destinations at weight 1 before
# the drain, the 4 leaving ones at weight 0 during it (node3, read back to back), and exactly the
# one left after it. Its own service, not web: converting web's 3 echo.py tasks to mesh.py was a
# rolling update of its own, one task at a time, minutes under TCG.
# shellcheck shell=bash
sc_spec() { # replicas [version env]
    mesh_spec sc "$1" ".env = [\"V=${2:-1}\"] | .networks = [{target: \"blue\"}]
        | .placement = {constraints: [\"node.hostname!=node3\"]} | .updatePolicy = {parallelism: 1, order: \"start-first\"}"
}
call POST /services -d "$(sc_spec 3)" >/dev/null
sc_vip=$(vip_of sc "$net_id")
sc_mark=$(fwmark_of sc "$net_id")
# sc_weights: "node<i>: W W ..." per node with the network's namespace (sc's weights, ascending).
sc_weights() { weights_of "$net_id" "$sc_mark"; }
# weights_everywhere "W ...": every node shows exactly these weights for sc.
weights_everywhere() { same_weights "$1" "$(sc_weights)"; }
set_sc() { call POST "/services/sc/update?version=$(call GET /services/sc | jq .version)" -d "$1" >/dev/null; }
wait_for "3 healthy sc tasks" 300 counts 3 healthy_running sc
wait_for "3 sc replicas at weight 1 in IPVS" 300 weights_everywhere "1 1 1"
step "sc healthy"

start_request_loop "$client_ns" "$sc_vip"
set_sc "$(sc_spec 5)"
wait_for "5 sc replicas at weight 1 in IPVS" 300 weights_everywhere "1 1 1 1 1"
expect_ipvs "$net_id" sc 1 1 1 1 1
echo "scale 3 -> 5: exactly 5 destinations at weight 1 on every node: ok"
step "scaled to 5"

# The 4 leaving replicas drain at weight 0 before they go: the manager's drain period (20 s in this
# lab), then each task stops and its destination goes once it has no connection. A wait over 3
# nodes reads too seldom under TCG to be sure of catching that window, so a watcher reads node3's
# IPVS (the requests' node) back to back meanwhile, one line per read: "ADDRESS:WEIGHT ...".
# Each leaving destination is checked on its own (an agent may take them in more than one pass).
leaving=$(call GET /tasks | jq -r --arg n "$net_id" '.[] | select(.serviceName == "sc" and .state == "running"
    and .desiredState == "running") | .endpoints[] | select(.networkID == $n) | .address' | sort)
rm -f "$data/watch.stop"
node3_ns=$(network_namespaces "$net_id" | while read -r n f; do if ((n == 3)); then echo "$f"; fi; done)
[[ -n $node3_ns ]] || fail "node3 has no namespace for network blue"
# The watcher's reads with consecutive alike ones merged: "[FIRST-LAST xCOUNT: ADDRESS:WEIGHT ...]".
reads_merged() {
    awk '{ t = $1; $1 = ""; if ($0 != last) { if (n) printf "[%s-%s x%d:%s] ", first, prev, n, last; first = t; n = 0 }
        last = $0; prev = t; n++ } END { if (n) printf "[%s-%s x%d:%s]", first, prev, n, last }' "$data/watch.out"
}
sc_dests() { # one read of node3: "ADDRESS:WEIGHT ..." of sc's destinations
    local m a w line=
    while read -r m a w; do if [[ $m == "$sc_mark" ]]; then line+="$a:$w "; fi; done <<<"$(ipvs_of "$node3_ns")"
    echo "$line"
}
# Each read is stamped (bash's clock, no process): a failure shows when node3 was read.
(while [[ -d $data && ! -e $data/watch.stop ]]; do echo "${EPOCHREALTIME%???} $(sc_dests)"; done) >"$data/watch.out" 2>&1 &
watch_pid=$!
set_sc "$(sc_spec 1)"
wait_for "1 sc replica in IPVS" 300 weights_everywhere 1
touch "$data/watch.stop"
wait "$watch_pid" || true
watch_pid=
kept=$(call GET /tasks | jq -r --arg n "$net_id" '.[] | select(.serviceName == "sc" and .state == "running"
    and .desiredState == "running") | .endpoints[] | select(.networkID == $n) | .address')
for a in $leaving; do
    [[ $a == "$kept" ]] && continue
    grep -q " $a:0 " <<<" $(tr '\n' ' ' <"$data/watch.out") " ||
        fail "node3 never showed leaving destination $a at weight 0 before it went (reads, alike ones merged: $(reads_merged))"
done
expect_ipvs "$net_id" sc 1
echo "scale 5 -> 1: on node3 each of the 4 leaving destinations was at weight 0 before it went ($(grep -c . "$data/watch.out") reads: $(reads_merged)), then exactly 1 destination on every node: ok"
step "scaled to 1"

set_sc "$(sc_spec 2 2)"
updated() {
    call GET /tasks | jq '[.[] | select(.serviceName == "sc" and .state == "running" and .desiredState == "running"
        and .health == "healthy" and .spec.env == ["V=2"])] | length'
}
wait_for "the rolling update" 600 counts 2 updated
wait_for "2 sc replicas in IPVS" 300 weights_everywhere "1 1"
expect_ipvs "$net_id" sc 1 1
step "rolled"
stop_request_loop >"$data/loop.result"
read -r ok failed <"$data/loop.result"
((ok >= 20)) || fail "only $ok requests ran during the changes"
((failed == 0)) || fail "$failed of $((ok + failed)) requests failed during scale and rolling update"
echo "scale 3 -> 5 -> 1 and a rolling update to 2 replicas: $ok requests to the VIP from node3, 0 failed: ok"
