#!/usr/bin/env bash
# shoalctl against a real manager: node, network and service verbs, progress until convergence,
# a convergence that fails exits non-zero, rollback, --format json read by jq.
# shellcheck source=cli/manager.bash
source "$(dirname "${BASH_SOURCE[0]}")/cli/manager.bash"
start_manager
register_nodes 3
start_agent

# Nodes: table, json, update availability and labels.
out=$("$shoalctl" node ls)
grep -qE '^ID +NAME +ROLE +STATUS +AVAILABILITY +ADDRESS$' <<<"$out" || fail "node ls has no header"
[[ $("$shoalctl" node ls --format json | jq -r '[.[].name] | join(",")') == node1,node2,node3 ]] || fail "node ls json"
"$shoalctl" node update --label-add zone=a --label-add disk=ssd node1 >/dev/null
"$shoalctl" node update --label-rm disk --availability pause node3 >/dev/null
out=$("$shoalctl" node inspect node1 node3)
[[ $(jq -r '.[0].labels.zone' <<<"$out") == a && $(jq -r '.[1].availability' <<<"$out") == pause ]] ||
    fail "node update did not set the label and availability"
"$shoalctl" node update --availability active node3 >/dev/null

# Networks.
"$shoalctl" network create --subnet 10.88.0.0/24 --attachable front >/dev/null
out=$("$shoalctl" network inspect front)
[[ $(jq -r '.[0].subnet' <<<"$out") == 10.88.0.0/24 && $(jq '.[0].attachable' <<<"$out") == true ]] || fail "network create"
[[ $("$shoalctl" network ls -q | wc -l) -eq 2 ]] || fail "network ls -q does not list ingress and front"
out=$("$shoalctl" network create --subnet 10.88.0.1/24 bad 2>&1) && fail "a subnet with host bits was accepted"
grep -q 'subnet: 10.88.0.1/24 has host bits set' <<<"$out" || fail "the bad subnet error does not name the field"

# Create: plain progress lines (not a terminal) until 3 out of 3 tasks run.
out=$("$shoalctl" service create --name web --replicas 3 --network front,alias=www -p 8080:80 \
    -e MODE=prod --timeout 30 -- http-echo -listen :80) || fail "service create did not converge"
grep -q '^web: overall progress: 0 out of 3 tasks' <<<"$out" || grep -q '^web: overall progress: [12] out of 3' <<<"$out" ||
    fail "no progress before convergence"
grep -q '^web: overall progress: 3 out of 3 tasks$' <<<"$out" || fail "no final progress line"
grep -qE '^  [123]/3: running +on node[123]$' <<<"$out" || fail "no per-slot lines"
grep -q '^web: converged$' <<<"$out" || fail "create did not say converged"
[[ $("$shoalctl" service ls --format json | jq -r '.[0].spec.networks[0].aliases[0]') == www ]] || fail "alias"
out=$("$shoalctl" service ls)
grep -qE '^[a-z0-9]{25} +web +replicated +3/3 +- +\*:8080->80/tcp$' <<<"$out" || fail "service ls row"
[[ $("$shoalctl" service ps web --format json | jq '[.[] | select(.state == "running")] | length') -eq 3 ]] ||
    fail "service ps json"

# Scale with progress; --detach returns before the tasks run.
out=$("$shoalctl" service scale web=5 --timeout 30) || fail "scale did not converge"
grep -q '^web: overall progress: 5 out of 5 tasks$' <<<"$out" || fail "scale progress"
out=$("$shoalctl" service scale web=2 --detach)
grep -q '^web scaled to 2$' <<<"$out" && ! grep -q progress <<<"$out" || fail "--detach waited"
"$shoalctl" service scale web=2 --timeout 30 >/dev/null || fail "scale down did not converge"

# Update (rolling, new generation) then rollback to the previous spec.
"$shoalctl" service update --env-add MODE=debug --update-parallelism 2 --timeout 30 web >/dev/null || fail "update"
[[ $("$shoalctl" service inspect web | jq -r '.[0].spec.env | join(",")') == MODE=debug ]] || fail "update env"
[[ $("$shoalctl" service inspect web | jq '.[0].generation') -eq 2 ]] || fail "update did not start a rolling update"
"$shoalctl" service rollback --timeout 30 web >/dev/null || fail "rollback"
[[ $("$shoalctl" service inspect web | jq -r '.[0].spec.env | join(",")') == MODE=prod ]] || fail "rollback env"
out=$("$shoalctl" service update web)
[[ $out == "web: nothing to change" ]] || fail "an empty update changed something"

# Placement constraints: only node1 has zone=a.
"$shoalctl" service create --name pinned --replicas 2 --constraint node.labels.zone==a --timeout 30 -- run >/dev/null ||
    fail "the constrained service did not converge"
[[ $("$shoalctl" service ps pinned | grep -c ' node1 ') -eq 2 ]] || fail "a constrained task ran off node1"

# A convergence that cannot happen exits non-zero with the reason, after --timeout.
start=$SECONDS
out=$("$shoalctl" service create --name nowhere --constraint node.labels.zone==mars --timeout 2 -- run 2>&1) &&
    fail "an unplaceable service reported success"
((SECONDS - start < 10)) || fail "--timeout was not honoured"
grep -q 'not converged within 2 s: nowhere: 0 out of 1 tasks running' <<<"$out" || fail "timeout message"
grep -q 'no suitable node: no ready, active node satisfies the placement constraints node.labels.zone==mars' <<<"$out" ||
    fail "the timeout does not say why"
# A failing task during an update pauses it: shoalctl stops waiting and says so.
echo web >"$data/failing"
out=$("$shoalctl" service update --env-add MODE=broken --timeout 30 web 2>&1) && fail "a failed update reported success"
grep -q 'service web did not converge: update paused: task web\.[0-9]*\.[a-z0-9]* failed' <<<"$out" || fail "paused update message"
: >"$data/failing"

# Errors a person can act on.
out=$("$shoalctl" service inspect ghost 2>&1) && fail "inspect of a missing service succeeded"
grep -q 'manager answered 404: no service ghost' <<<"$out" || fail "missing service message"
out=$(SHOAL_SOCKET=$data/none.sock "$shoalctl" service ls 2>&1) && fail "a missing socket succeeded"
grep -q 'hint: is `shoald manager` running' <<<"$out" || fail "no hint for a manager that is not there"
# These nodes have no agents: every node's logs are missing, and shoalctl says so and fails.
out=$("$shoalctl" service logs web 2>&1) && fail "service logs without agents claimed to work"
grep -Eq 'warning: no logs from node node[0-9]+: its agent is not connected' <<<"$out" || fail "service logs warning: $out"
# As many missing nodes as there are nodes holding web's tasks (placement decides how many).
holders=$("$shoalctl" task ls --format json | jq '[.[] | select(.serviceName == "web" and .nodeID != null
    and (.state | IN("new", "pending", "assigned") | not)) | .nodeID] | unique | length')
grep -q "the logs of $holders node(s) are missing" <<<"$out" || fail "service logs error (expected $holders nodes): $out"

# Context file instead of environment.
SHOAL_SOCKET='' "$shoalctl" context set --socket "$data/run/shoald.sock" >/dev/null
[[ $(SHOAL_SOCKET='' "$shoalctl" service ls -q | wc -l) -eq 3 ]] || fail "the context file was not used"

"$shoalctl" service rm web pinned nowhere >/dev/null
[[ $("$shoalctl" service ls --format json | jq length) -eq 0 ]] || fail "service rm"
echo "ok: shoalctl node/network/service verbs, progress, scale, update, rollback, timeout and paused update exit non-zero, json via jq"
