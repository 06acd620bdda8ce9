#!/usr/bin/env bash
# The lab removes everything it made when its command fails and when it is interrupted.
set -euo pipefail
lab="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../scripts" && pwd)/netns-lab"
fail() { echo "FAIL: $*" >&2; exit 1; }
ours() { ip netns list | awk '{print $1}' | grep -c "^$1-" || true; }

prefix="shl${SHOAL_RUN_TAG:-}clean$$a"
if "$lab" run --nodes 2 --prefix "$prefix" -- false; then fail "a failing command reported success"; fi
[[ $(ours "$prefix") -eq 0 ]] || fail "namespaces left after a failing command"

prefix="shl${SHOAL_RUN_TAG:-}clean$$b"
marker=$(mktemp -u)
# The command marks that it runs, then waits long: the signal must not wait for it.
"$lab" run --nodes 2 --prefix "$prefix" -- bash -c "touch $marker; exec sleep 60" &
pid=$!
for _ in $(seq 100); do [[ -e $marker ]] && break; sleep 0.1; done
[[ -e $marker ]] || fail "lab command did not start"
rm -f "$marker"
[[ $(ours "$prefix") -eq 3 ]] || fail "lab did not come up with 3 namespaces"
start=$SECONDS
kill -TERM "$pid"
if wait "$pid"; then fail "an interrupted lab reported success"; fi
((SECONDS - start < 10)) || fail "lab took $((SECONDS - start)) s to stop after SIGTERM"
[[ $(ours "$prefix") -eq 0 ]] || fail "namespaces left after SIGTERM: $(ip netns list | grep "$prefix")"

# Bad input names what is wrong and makes nothing.
out=$("$lab" run --nodes 0 --prefix "shl${SHOAL_RUN_TAG:-}clean$$c" -- true 2>&1) && fail "--nodes 0 accepted"
grep -q -- "--nodes must be" <<<"$out" || fail "unclear error for --nodes 0: $out"
[[ $(ours "shl${SHOAL_RUN_TAG:-}clean$$c") -eq 0 ]] || fail "bad input left namespaces"
echo "ok: lab cleans up after failure, SIGTERM and bad input"
