#!/usr/bin/env bash
# The README's first command keeps working: run scripts/demo and check what it shows.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
fail() { echo "FAIL: $*" >&2; echo "$out" >&2; exit 1; }
# Without the mesh part: on a kernel without IPVS it boots the kernel VM (minutes under TCG), which
# belongs to the vm tier (tests/vm/mesh-vip.sh checks published ports the same way, and more).
out=$(SHOAL_DEMO_MESH=0 "$root/scripts/demo" 2>&1) || fail "scripts/demo exited non-zero"
grep -qE '^node3  down  down: missed 3 heartbeats' <<<"$out" || fail "node3 did not go DOWN"
# After the failure, five running tasks and none of them on node3.
after=$(sed -n '/node3 stops sending/,/bad input/p' <<<"$out" | grep -E '^web\.[0-9]+  on ')
[[ $(grep -c 'running/running' <<<"$after") -eq 5 ]] || fail "expected 5 running tasks after the failure"
! grep -q ' on node3 ' <<<"$after" || fail "a task stayed on the DOWN node"
grep -q '"type":"complete".*"endpoint":6' <<<"$out" || fail "node1's COMPLETE view lacks the 6 endpoints"
grep -q '"type":"incremental"' <<<"$out" || fail "no INCREMENTAL after scaling"
grep -q '{"field":"replicas","reason":' <<<"$out" || fail "bad input was not refused with its field"
grep -q '^joined as worker ' <<<"$out" || fail "the agent did not join with the worker token"
grep -q '^reusing the certificate of node ' <<<"$out" || fail "the restarted agent did not reuse its certificate"
grep -q 'may not call admin routes.*(HTTP 403)' <<<"$out" || fail "a worker certificate reached an admin route"
grep -q 'plain HTTP is refused"} (HTTP 400)' <<<"$out" || fail "plain HTTP was not refused clearly"
grep -q 'join failed: manager answered 401: invalid join token secret' <<<"$out" || fail "a rotated token was accepted"
grep -q '"state":"ready"}* (HTTP 200)' <<<"$out" || fail "the joined agent stopped working after rotation"
grep -q 'refused a client certificate: .* is revoked' <<<"$out" || fail "a removed node's certificate was not refused"
grep -qE '^from task hello\.[0-9]+\.[0-9a-z]+ on node1: GET http://[0-9.]+:8080/ \(a task on node2\) answers: hello\.[0-9]+\.[0-9a-z]+$' <<<"$out" ||
    fail "no HTTP answer across the overlay"
grep -qE '^[0-9a-f:]{17} dst 172\.29\.0\.12 ' <<<"$out" || fail "node1's FDB has no entry towards node2"
echo "ok: scripts/demo shows placement, feed views, failure and rescheduling, join, roles, rotation, revocation, HTTP across the overlay"
