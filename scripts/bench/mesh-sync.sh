#!/usr/bin/env bash
# The mesh on one node (docs/mesh.md, docs/benchmarks.md): S VIP services x D tasks synced from
# empty by the agent's mesh reconciler, against `ipvsadm -R` of the same IPVS rules in the same
# run; then one task added and one removed, with the netlink requests and nft transactions they
# cost. Needs IPVS, so it runs shoal-mesh-bench inside the kernel VM.
#   scripts/bench/mesh-sync.sh [SERVICES [TASKS]]       (root; build first: swift build --product shoal-mesh-bench)
# MESH_BENCH=.build/release/shoal-mesh-bench picks another build (a path under the repo: the VM
# mounts its own /tmp).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bench="${MESH_BENCH:-.build/debug/shoal-mesh-bench}"
[[ $bench == /* ]] || bench="$root/$bench"
[[ -x $bench ]] || { echo "error: build first: swift build --product shoal-mesh-bench ($bench)" >&2; exit 1; }
cd "$root"
if [[ -e /proc/net/ip_vs ]] || modprobe ip_vs 2>/dev/null; then
    exec "$bench" "$@"
fi
exec scripts/kernel-vm --timeout 1200 "$bench" "$@"
