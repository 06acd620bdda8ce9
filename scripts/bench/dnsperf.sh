#!/usr/bin/env bash
# DNS benchmark: dnsperf on loopback against Shoal's server, unbound and dnsmasq in the same run,
# serving the same names (2,000 services + 200 tasks. names with 5 addresses each, from
# scripts/lib/dns-fixtures.py) with the same query mix (80% service, 15% tasks., 5% unknown).
# Each server gets one thread. Reports QPS, average and p99 latency, lost queries and resident memory.
#
#   scripts/bench/dnsperf.sh [SECONDS [ROUNDS]]     (defaults: 10 s per run, 3 rounds; medians)
#
# Builds shoal-dns in release mode first. Shoal forwards the unknown names to the unbound
# instance (which answers NXDOMAIN with an SOA), so they are negatively cached after the first.
set -euo pipefail
seconds=${1:-10}
rounds=${2:-3}
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

for tool in dnsperf unbound dnsmasq; do
    command -v "$tool" >/dev/null || { echo "missing $tool (scripts/packages/netns.txt)" >&2; exit 1; }
done
scratch=${SHOAL_BENCH_SCRATCH:-$root/.build}
(cd "$root" && swift build -c release --scratch-path "$scratch" --product shoal-dns >/dev/null)
bin=$(cd "$root" && swift build -c release --scratch-path "$scratch" --show-bin-path)/shoal-dns
python3 "$root/scripts/lib/dns-fixtures.py" bench "$work"

cat >"$work/unbound.conf" <<CONF
server:
  interface: 127.0.0.1
  port: 5301
  do-daemonize: no
  username: ""
  chroot: ""
  directory: "$work"
  pidfile: ""
  use-syslog: no
  logfile: ""
  verbosity: 0
  do-ip6: no
  num-threads: 1
  access-control: 127.0.0.0/8 allow
  include: "$work/unbound-local.conf"
remote-control:
  control-enable: no
CONF
unbound -d -c "$work/unbound.conf" >"$work/unbound.log" 2>&1 &
pids+=("$!")
unbound_pid=$!
dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts --addn-hosts="$work/hosts" \
    --local=/bench/ --listen-address=127.0.0.1 --bind-interfaces --port=5302 --user=root --pid-file= \
    --cache-size=10000 --log-facility="$work/dnsmasq.log" &
pids+=("$!")
dnsmasq_pid=$!
"$bin" serve --view "$work/view.json" --listen 127.0.0.1:5303 --upstream 127.0.0.1:5301 --threads 1 \
    >"$work/shoal.log" 2>&1 &
pids+=("$!")
shoal_pid=$!
for port in 5301 5302 5303; do
    for _ in $(seq 100); do dig @127.0.0.1 -p $port +time=1 +tries=1 svc1.bench +short | grep -q . && break; sleep 0.1; done
    dig @127.0.0.1 -p $port +short svc1.bench | grep -q . || { echo "server on port $port does not answer" >&2; exit 1; }
done

# One dnsperf run; -v prints each answer's latency, from which the p99 is taken.
run() {
    local name=$1 port=$2 pid=$3 out="$work/$1.$4"
    dnsperf -s 127.0.0.1 -p "$port" -d "$work/queries" -l "$seconds" -c 4 -q 200 -v >"$out" 2>&1
    python3 - "$name" "$out" "$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")" <<'PY'
import re, sys
name, path, rss = sys.argv[1], sys.argv[2], int(sys.argv[3])
latencies, qps, avg, lost = [], 0.0, 0.0, 0
for line in open(path, errors="replace"):
    if line.startswith("> "):
        try:
            latencies.append(float(line.split()[-1]))
        except ValueError:
            pass  # a query that timed out has no latency
    elif "Queries per second:" in line:
        qps = float(line.split()[-1])
    elif "Average Latency (s):" in line:
        avg = float(line.split()[3])
    elif "Queries lost:" in line:
        lost = int(line.split()[2])
latencies.sort()
p99 = latencies[int(len(latencies) * 0.99)] if latencies else 0.0
print("%s %.0f %.3f %.3f %d %d" % (name, qps, avg * 1000, p99 * 1000, lost, rss // 1024))
PY
}

for ((r = 1; r <= rounds; r++)); do
    run shoal 5303 $shoal_pid $r
    run unbound 5301 $unbound_pid $r
    run dnsmasq 5302 $dnsmasq_pid $r
done >"$work/results"

python3 - "$work/results" "$rounds" "$seconds" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, *values = line.split()
    rows.setdefault(name, []).append([float(v) for v in values])
print("dnsperf -l %s -c 4 -q 200, %s rounds, medians (runs: QPS)" % (sys.argv[3], sys.argv[2]))
print("| server | QPS | avg latency ms | p99 latency ms | lost | RSS MiB | runs (QPS) |")
print("|---|---|---|---|---|---|---|")
for name in ("shoal", "unbound", "dnsmasq"):
    runs = rows[name]
    med = [statistics.median(r[i] for r in runs) for i in range(5)]
    print("| %s | %.0f | %.3f | %.3f | %d | %d | %s |" % (name, med[0], med[1], med[2], med[3], med[4],
          ", ".join("%.0f" % r[0] for r in runs)))
shoal = statistics.median(r[0] for r in rows["shoal"])
unbound = statistics.median(r[0] for r in rows["unbound"])
print("Shoal / unbound QPS: %.2fx (target >= 1.0x)" % (shoal / unbound))
PY
