#!/usr/bin/env bash
# shoalctl stack against a real manager: both examples deploy and converge, a redeploy changes
# nothing (same revision), a changed file updates only what changed, an invalid file deploys
# nothing and names the line and column, stack ls/services/ps in json, stack rm removes it all.
# shellcheck source=cli/manager.bash
source "$(dirname "${BASH_SOURCE[0]}")/cli/manager.bash"
start_manager
register_nodes 3
start_agent
cd "$root"

# The vote example: two networks, five services, progress until every task runs.
out=$(VOTE_PORT=5080 "$shoalctl" stack deploy -c examples/vote/stack.yml --timeout 60 vote 2>&1) ||
    fail "the vote stack did not deploy"
for line in "Creating network vote_backend" "Creating network vote_frontend" "Creating service vote_vote" \
    "Creating service vote_worker" "vote_vote: converged" "vote_worker: converged"; do
    grep -qx "$line" <<<"$out" || fail "deploy did not print: $line"
done
! grep -q warning <<<"$out" || fail "the example has warnings"
nets=$("$shoalctl" network inspect vote_frontend vote_backend)
[[ $(jq -r '.[1].subnet' <<<"$nets") == 10.77.0.0/24 && $(jq '.[1].internal' <<<"$nets") == true &&
    $(jq '.[0].attachable' <<<"$nets") == true ]] || fail "the stack's networks lack their settings"
svc=$("$shoalctl" service inspect vote_vote vote_result vote_redis)
[[ $(jq '.[0].ports[0].published' <<<"$svc") -eq 5080 ]] || fail "\${VOTE_PORT:-5000} was not substituted"
[[ $(jq -r '.[1].spec.networks[0].aliases | join(",")' <<<"$svc") == result,results ]] || fail "aliases"
[[ $(jq -r '.[2].spec.endpointMode' <<<"$svc") == dnsrr && $(jq '.[2].virtualIPs | length' <<<"$svc") -eq 0 ]] ||
    fail "redis is not dnsrr"
[[ $("$shoalctl" stack ps vote --format json | jq '[.[] | select(.state == "running")] | length') -eq 8 ]] ||
    fail "stack ps: expected 8 running tasks (2 vote, 1 result, 1 redis, 1 db, 3 worker)"
[[ $("$shoalctl" stack ls --format json | jq -c .) == '[{"name":"vote","services":5}]' ]] || fail "stack ls json"
out=$("$shoalctl" stack services vote)
grep -qE ' vote_worker +global +3/global +example/worker:latest' <<<"$out" || fail "stack services row"

# The same file again: nothing changes, not even the revision.
before=$(revision)
out=$(VOTE_PORT=5080 "$shoalctl" stack deploy -c examples/vote/stack.yml vote 2>&1) || fail "redeploy failed"
[[ $(grep -c 'is unchanged$' <<<"$out") -eq 5 ]] || fail "redeploy touched a service"
sleep 1
[[ $(revision) == "$before" ]] || fail "redeploy changed the state (revision $before -> $(revision))"

# A changed file: vote scales to 3, result gets a new variable; the others stay as they are.
versions() { "$shoalctl" service ls --format json | jq -c 'map({(.spec.name): .version}) | add'; }
old=$(versions)
changed="$data/vote-changed.yml"
sed -e 's/replicas: 2/replicas: 3/' -e 's/    command: http-echo -listen :80 -text result/&\n    environment: [SHOW=all]/' \
    examples/vote/stack.yml >"$changed"
out=$(VOTE_PORT=5080 "$shoalctl" stack deploy -c "$changed" --timeout 60 vote 2>&1) || fail "changed deploy failed"
grep -qx 'Scaling service vote_vote' <<<"$out" && grep -qx 'Updating service vote_result' <<<"$out" ||
    fail "the changed services were not updated"
[[ $(grep -c 'is unchanged$' <<<"$out") -eq 3 ]] || fail "expected 3 unchanged services"
new=$(versions)
for name in vote_db vote_redis vote_worker; do
    [[ $(jq ".$name" <<<"$old") == $(jq ".$name" <<<"$new") ]] || fail "$name changed although its entry did not"
done
[[ $("$shoalctl" service inspect vote_vote | jq '.[0].generation') -eq 1 ]] || fail "scaling replaced tasks"
[[ $("$shoalctl" service inspect vote_result | jq '.[0].generation') -eq 2 ]] || fail "result was not updated"

# An invalid file: the error names line and column, and nothing is deployed.
printf 'services:\n  web:\n    command: x\n    deploy: {replicas: lots}\n' >"$data/bad.yml"
before=$(revision)
out=$("$shoalctl" stack deploy -c "$data/bad.yml" bad 2>&1) && fail "an invalid file deployed"
grep -q "bad.yml:4:24: service web: deploy.replicas must be an integer, not 'lots'" <<<"$out" || fail "invalid file message"
printf 'services:\n  web:\n    image: nginx\n' >"$data/image.yml"
out=$("$shoalctl" stack deploy -c "$data/image.yml" bad 2>&1) && fail "an image without command deployed"
grep -q "service web has image nginx but no command" <<<"$out" || fail "image without command message"
[[ $(revision) == "$before" ]] || fail "an invalid file changed the state"

# The web example (default network, host-mode global service), with a warning for an unknown key.
sed 's/^services:/colour: blue\nx-extra: 1\nservices:/' examples/web/stack.yml >"$data/web.yml"
out=$("$shoalctl" stack deploy -c "$data/web.yml" --timeout 60 web 2>&1) || fail "the web stack did not deploy"
grep -q "web.yml:3: warning: unknown key 'colour' in the file is ignored" <<<"$out" || fail "no unknown-key warning"
! grep -q x-extra <<<"$out" || fail "an x- extension field was warned about"
grep -qx 'Creating network web_default' <<<"$out" && grep -qx 'web_web: converged' <<<"$out" || fail "web stack output"

# stack rm: services and the stack's own networks go; other stacks stay.
out=$("$shoalctl" stack rm --timeout 30 vote) || fail "stack rm failed: $out"
grep -qx 'Removing network vote_backend' <<<"$out" || fail "stack rm did not remove the networks"
[[ $("$shoalctl" network ls --format json | jq -r '[.[].name] | sort | join(",")') == ingress,web_default ]] ||
    fail "networks left after stack rm"
[[ $("$shoalctl" stack ls -q) == web ]] || fail "stack ls after rm"
out=$("$shoalctl" stack rm vote 2>&1) && fail "removing a missing stack succeeded"
grep -q 'no stack vote' <<<"$out" || fail "missing stack message"
echo "ok: stack deploy of both examples with progress, redeploy changes nothing, changed file updates only what changed, invalid files deploy nothing, stack ls/services/ps json, stack rm"
