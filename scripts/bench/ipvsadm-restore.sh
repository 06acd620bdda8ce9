#!/bin/bash
# Anchor numbers for IPVS programming: times `ipvsadm -R` loading S services
# x D destinations and `ipvsadm -Sn` reading them back, in a fresh network
# namespace. Needs IPVS, so run it in the kernel VM:
#   scripts/kernel-vm scripts/bench/ipvsadm-restore.sh [SERVICES [DESTS]]
# Defaults: 2000 services x 10 destinations (22,000 rule lines).
set -euo pipefail

services=${1:-2000}
dests=${2:-10}
ns=sht$$-bench
work=$(mktemp -d)
cleanup() {
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

[ -e /proc/net/ip_vs ] || modprobe ip_vs 2>/dev/null || true
[ -e /proc/net/ip_vs ] || { echo "no IPVS in this kernel; run via scripts/kernel-vm" >&2; exit 1; }
ip netns add "$ns"
# IPVS rejects destinations (EINVAL) while the namespace has no local routing
# table yet: inet_addr_type() then calls every address a broadcast. lo up creates it.
ip netns exec "$ns" ip link set lo up

# Service i: VIP 10.240.(i/250).(i%250+1):80, rr, masquerade destinations
# 10.250.(j).(i%250+1):8080, weight 1.
awk -v s="$services" -v d="$dests" 'BEGIN {
    for (i = 0; i < s; i++) {
        vip = sprintf("10.240.%d.%d:80", int(i / 250), i % 250 + 1)
        printf "-A -t %s -s rr\n", vip
        for (j = 0; j < d; j++)
            printf "-a -t %s -r 10.250.%d.%d:8080 -m -w 1\n", vip, j, i % 250 + 1
    }
}' >"$work/rules"
lines=$(wc -l <"$work/rules")

now() { echo "$EPOCHREALTIME"; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", (b - a) * 1000 }'; }

t0=$(now)
if ! ip netns exec "$ns" ipvsadm -R <"$work/rules" 2>"$work/errors"; then
    echo "FAIL: ipvsadm -R: $(sort "$work/errors" | uniq -c | head -n 5)" >&2
    exit 1
fi
t1=$(now)
ip netns exec "$ns" ipvsadm -Sn >"$work/saved"
t2=$(now)
ip netns exec "$ns" ipvsadm -C
t3=$(now)

got_services=$(grep -c '^-A ' "$work/saved" || true)
got_dests=$(grep -c '^-a ' "$work/saved" || true)
if [ "$got_services" != "$services" ] || [ "$got_dests" != $((services * dests)) ]; then
    echo "FAIL: read back $got_services services, $got_dests destinations" >&2
    exit 1
fi

echo "kernel $(uname -r), $(nproc) CPUs"
echo "ipvsadm -R  $services services x $dests destinations ($lines lines): $(ms "$t0" "$t1") ms"
echo "ipvsadm -Sn ($got_services services, $got_dests destinations): $(ms "$t1" "$t2") ms"
echo "ipvsadm -C: $(ms "$t2" "$t3") ms"
