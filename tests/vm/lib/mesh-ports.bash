# Published ports of tests/vm/mesh-vip.sh's lab (sourced by it; uses its helpers and the lab):
# - ingress mode: TCP and UDP published ports answer on every node's underlay address, node3 (no
#   task of the service) included, and reach every replica; `ipvsadm -Ln` in each node's ingress
#   namespace shows exactly the published ports' services with the tasks and target ports;
# - host mode: the port answers only on the nodes running a task, with that node's task; node3 refuses;
# - an agent restart re-creates nothing: same nft rule handles, same ifindexes, IPVS counters kept.
# shellcheck shell=bash

# pub: 3 replicas on node1/node2, tcp 30080 -> 8080 and udp 30090 -> 9090 in ingress mode.
call POST /services -d "$(mesh_spec pub 3 '.placement = {constraints: ["node.hostname!=node3"]}
    | .ports = [{protocol: "tcp", target: 8080, published: 30080}, {protocol: "udp", target: 9090, published: 30090}]')" >/dev/null
# hostp: one task on each of node1 and node2 (the host port spreads them), tcp and udp in host mode.
call POST /services -d "$(mesh_spec hostp 2 '.placement = {constraints: ["node.hostname!=node3"]}
    | .ports = [{protocol: "tcp", target: 8080, published: 30081, publishMode: "host"},
                {protocol: "udp", target: 9090, published: 30091, publishMode: "host"}]')" >/dev/null
wait_for "3 healthy pub tasks" 200 counts 3 healthy_running pub
wait_for "2 healthy hostp tasks" 100 counts 2 healthy_running hostp
step "pub and hostp healthy"

ingress_id=$(call GET /networks | jq -r '.[] | select(.ingress) | .id')
pub_names=$(names_of pub)
node_ip() { local v="LAB_NODE_${1}_IP"; echo "${!v}"; }

# Ingress mode: from outside, each node's address answers on both ports, and all 3 replicas answer.
for n in 1 2 3; do
    wait_for "tcp 30080 on node$n" 150 bash -c "nsenter --net='$outside' curl -sS --max-time 2 http://$(node_ip "$n"):30080/ | grep -q ."
    for proto in tcp udp; do
        port=$([[ $proto == tcp ]] && echo 30080 || echo 30090)
        got=$(probe "$outside" "$proto" "$(node_ip "$n")" "$port" 9)
        grep -qv '^pub\.' <<<"$got" && fail "$proto $port on node$n: answers [$(xargs <<<"$got")]"
        [[ $(sort -u <<<"$got") == "$pub_names" ]] ||
            fail "$proto $port on node$n reached [$(sort -u <<<"$got" | xargs)], expected [$(xargs <<<"$pub_names")]"
    done
done
echo "published tcp 30080 and udp 30090 on node1..3 (node3 has no task) reached all 3 replicas from outside: ok"

# The ingress namespace of every node: exactly the two published ports' services (rr), each with
# the pub tasks' ingress addresses on the target port at weight 1; nothing for hostp or dnsrr.
pub_ingress=$(call GET /tasks | jq -r --arg s pub --arg n "$ingress_id" '.[] | select(.serviceName == $s and
    .state == "running" and .desiredState == "running") | .endpoints[] | select(.networkID == $n) | .address' | sort)
want_ingress=$(for mark in $((0x10000 + 30080)) $((0x20000 + 30090)); do
    echo "FWM $mark rr"
    port=$([[ $mark == $((0x10000 + 30080)) ]] && echo 8080 || echo 9090)
    for a in $pub_ingress; do echo "$mark $a:$port 1"; done
done | sort)
[[ $(wc -l <<<"$pub_ingress") == 3 ]] || fail "pub has no 3 ingress endpoints: [$pub_ingress]"
for n in 1 2 3; do
    f="$data/node$n/run/netns/net-$ingress_id"
    [[ -e $f ]] || fail "node$n has no ingress namespace"
    got=$(nsenter --net="$f" ipvsadm -Ln | awk '$1 == "FWM" { m = $2; print "FWM", $2, $3 } $1 == "->" && m != "" { print m, $2, $4 }' | sort)
    [[ $got == "$want_ingress" ]] || fail "node$n ingress ipvsadm -Ln: [$(xargs <<<"$got")], expected [$(xargs <<<"$want_ingress")]"
done
echo "ipvsadm -Ln in every ingress namespace: exactly tcp/30080 and udp/30090 to the 3 tasks' target ports: ok"

# Host mode: node1 and node2 answer with their own task, straight to it; node3 refuses.
for n in 1 2; do
    own=$(names_of hostp "node$n")
    [[ $(wc -l <<<"$own") == 1 && -n $own ]] || fail "node$n runs hostp tasks [$own], expected one"
    for proto in tcp udp; do
        port=$([[ $proto == tcp ]] && echo 30081 || echo 30091)
        got=$(probe "$outside" "$proto" "$(node_ip "$n")" "$port" 4 | sort -u)
        [[ $got == "$own" ]] || fail "host-mode $proto $port on node$n answered [$(xargs <<<"$got")], expected its task $own"
    done
done
got=$(probe "$outside" tcp "$(node_ip 3)" 30081 1)$(probe "$outside" udp "$(node_ip 3)" 30091 1)
[[ $got == "refusedrefused" ]] || fail "host-mode ports on node3 (no task): [$got], expected refused twice"
echo "host-mode tcp 30081 and udp 30091: node1 and node2 answer with their own task, node3 refuses: ok"

# dnsrr and host-mode services have no IPVS service in any namespace of any node.
vip_services=$(call GET /services | jq --arg n "$net_id" '[.[] | select(.spec.endpointMode != "dnsrr")
    | select(any(.networkIDs[]; . == $n))] | length') # web, empty, client and what other parts added (rr is dnsrr)
for n in 1 2 3; do
    for f in "$data/node$n"/run/netns/net-*; do
        count=$(nsenter --net="$f" ipvsadm -Ln | grep -c '^FWM\|^TCP\|^UDP' || true)
        want=0
        [[ $f == *"net-$ingress_id" ]] && want=2
        [[ $f == *"net-$net_id" ]] && want=$vip_services
        ((count == want)) || fail "node$n $(basename "$f"): $count IPVS services, expected $want"
    done
done
echo "no IPVS service for the dnsrr and host-mode services in any namespace: ok"

# Agent restart (node1: pub and hostp tasks, both tables): nothing is re-created.
kernel_ids() { # the nft rule handles and ifindexes of node1's namespace and its ingress namespace
    local f="$data/node1/run/netns/net-$ingress_id"
    nsenter --net="/run/netns/$LAB_NODE_1_NS" nft -a list table ip shoal_ingress | grep -o 'handle [0-9]*'
    nsenter --net="/run/netns/$LAB_NODE_1_NS" ip -o link show shoal_ig0 | cut -d: -f1
    nsenter --net="$f" nft -a list table ip shoal_mesh | grep -o 'handle [0-9]*'
    nsenter --net="$f" ip -o link show gw0 | cut -d: -f1
}
conns() { nsenter --net="$data/node1/run/netns/net-$ingress_id" ipvsadm -Ln --stats | awk '$1 == "FWM" { print $2, $3 }'; }
sleep 3 # the IPVS counters are refreshed every 2 s
ids_before=$(kernel_ids)
conns_before=$(conns)
kill "${agent_pids[1]}"
wait "${agent_pids[1]}" 2>/dev/null || true
start_agent 1 --drain-grace 30
wait_for "the restarted agent to reconcile" 150 bash -c "curl -sS --unix-socket '$data/node1/run/agent.sock' http://agent/v1/state | jq -e '.reconciles >= 1'"
sleep 3
[[ $(kernel_ids) == "$ids_before" ]] || fail "node1's nft tables or ingress links were re-created: [$(xargs <<<"$ids_before")] -> [$(kernel_ids | xargs)]"
while read -r mark before; do
    after=$(conns | awk -v m="$mark" '$1 == m { print $2 }')
    ((before > 0 && after >= before)) || fail "FWM $mark connection count $before -> $after across the restart (re-created?)"
done <<<"$conns_before"
mesh=$(curl -sS --unix-socket "$data/node1/run/agent.sock" http://agent/v1/mesh)
[[ $(jq -c .lastOps <<<"$mesh") == "[]" ]] || fail "the restarted agent changed the mesh: $(jq -c .lastOps <<<"$mesh")"
[[ $(probe "$outside" tcp "$(node_ip 1)" 30080 3 | sort -u) == "$pub_names" ]] || fail "30080 on node1 after the restart"
echo "agent restart on node1: same nft handles and ifindexes, IPVS counters kept ($(xargs <<<"$conns_before")), no mesh op: ok"
