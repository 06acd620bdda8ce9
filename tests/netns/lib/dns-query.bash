# dig against 127.0.0.11 inside a namespace (a name under /run/netns or a namespace file's path),
# and the checks the DNS tests make with it. Sourced; the test defines fail().
# shellcheck shell=bash

q() {
    local ns=$1
    shift
    [[ $ns == */* ]] || ns=/run/netns/$ns
    nsenter --net="$ns" dig @127.0.0.11 +time=2 +tries=1 "$@"
}
# The answers, sorted (addresses in numeric order), on one line.
short() { q "$@" +short | sort -V | tr '\n' ' ' | sed 's/ $//'; }
status() { q "$@" | sed -n 's/.*status: \([A-Z]*\).*/\1/p'; }
expect() { [[ $2 == "$3" ]] || fail "$1: got '$2', expected '$3'"; }
