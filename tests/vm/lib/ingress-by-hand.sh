#!/usr/bin/env bash
# Diagnostic, not part of the vm tier: the ingress path exactly as Shoal programs it (the nft
# tables MeshRules and HostRules write, a firewall-mark IPVS service whose destination names the
# target port), built by hand in four namespaces (client, node, ingress, task) and checked with a
# TCP and a UDP request from the client to the node's published ports 30080 and 30090:
#   scripts/kernel-vm tests/vm/lib/ingress-by-hand.sh
# Ran green on 2026-11-30 ("tcp: [task]", "udp: [task-udp]", one InActConn per service).
set -uo pipefail
p=sht$$
C=$p-c N=$p-n I=$p-i T=$p-t
cleanup() { for n in $C $N $I $T; do ip netns pids $n 2>/dev/null | xargs -r kill 2>/dev/null; ip netns del $n 2>/dev/null; done; }
trap cleanup EXIT
for n in $C $N $I $T; do ip netns add $n; ip -n $n link set lo up; done
ip link add eth0 netns $N type veth peer name eth0 netns $C
ip -n $C addr add 172.29.0.1/24 dev eth0; ip -n $C link set eth0 up
ip -n $N addr add 172.29.0.11/24 dev eth0; ip -n $N link set eth0 up
ip -n $N link add shoal_gw type bridge; ip -n $N addr add 172.31.0.1/16 dev shoal_gw; ip -n $N link set shoal_gw up
ip -n $N link add shoal_ig0 type veth peer name gw0 netns $I
ip -n $N link set shoal_ig0 master shoal_gw up
ip -n $I addr add 172.31.255.254/16 dev gw0; ip -n $I link set gw0 up; ip -n $I route add default via 172.31.0.1
ip -n $I link add br0 type bridge; ip -n $I addr add 10.255.0.3/24 dev br0; ip -n $I link set br0 up
ip -n $I link add veth0 type veth peer name eth0 netns $T
ip -n $I link set veth0 master br0 up
ip -n $T addr add 10.255.0.9/24 dev eth0; ip -n $T link set eth0 up
ip netns exec $N sysctl -qw net.ipv4.ip_forward=1
for s in net.ipv4.vs.conntrack=1 net.ipv4.vs.conn_reuse_mode=1 net.ipv4.vs.expire_nodest_conn=1 net.ipv4.ip_forward=1; do ip netns exec $I sysctl -qw $s; done
ip netns exec $N nft -f - <<'EOF'
table ip shoal_ingress {
    map ports {
        type inet_proto . inet_service : ipv4_addr . inet_service
        elements = { tcp . 30080 : 172.31.255.254 . 30080, udp . 30090 : 172.31.255.254 . 30090 }
    }
    chain prerouting {
        type nat hook prerouting priority dstnat; policy accept;
        fib daddr type local dnat ip to meta l4proto . th dport map @ports comment "x"
    }
    chain output {
        type nat hook output priority -100; policy accept;
        fib daddr type local dnat ip to meta l4proto . th dport map @ports
    }
}
EOF
echo "nft node rc=$?"
ip netns exec $I nft -f - <<'EOF'
table ip shoal_mesh {
    map vips {
        type ipv4_addr : mark
    }
    map ports {
        type inet_proto . inet_service : mark
        elements = { tcp . 30080 : 0x00017580, udp . 30090 : 0x0002758a }
    }
    chain prerouting {
        type filter hook prerouting priority mangle; policy accept;
        meta mark set ip daddr map @vips
        iifname "gw0" ip daddr 172.31.255.254 meta mark set meta l4proto . th dport map @ports
    }
    chain postrouting {
        type nat hook postrouting priority srcnat; policy accept;
        meta mark != 0 snat to 10.255.0.3 comment "x"
    }
}
EOF
echo "nft ingress rc=$?"
ip netns exec $I ipvsadm -A -f $((0x17580)) -s rr
ip netns exec $I ipvsadm -a -f $((0x17580)) -r 10.255.0.9:8080 -m
ip netns exec $I ipvsadm -A -f $((0x2758a)) -s rr
ip netns exec $I ipvsadm -a -f $((0x2758a)) -r 10.255.0.9:9090 -m
ip netns exec $I ipvsadm -Ln
cat > /tmp/srv.py <<'PY'
import http.server, socket, threading
def udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", 9090))
    while True:
        _, peer = s.recvfrom(512); s.sendto(b"task-udp", peer)
threading.Thread(target=udp, daemon=True).start()
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header("content-length", "4"); self.end_headers(); self.wfile.write(b"task")
    def log_message(self, *a): pass
http.server.HTTPServer(("0.0.0.0", 8080), H).serve_forever()
PY
ip netns exec $T python3 /tmp/srv.py &
for _ in $(seq 50); do ip netns exec $T python3 -c 'import socket; socket.create_connection(("127.0.0.1", 8080), 1)' 2>/dev/null && break; sleep 0.3; done
tcp=$(ip netns exec $C curl -sS --max-time 5 http://172.29.0.11:30080/ 2>&1)
udp=$(ip netns exec $C python3 -c 'import socket; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.settimeout(5); s.connect(("172.29.0.11",30090)); s.send(b"x"); print(s.recv(100).decode())' 2>&1)
echo "tcp: [$tcp]"
echo "udp: [$udp]"
ip netns exec $I ipvsadm -Ln
[[ $tcp == task && $udp == task-udp ]] || { echo "FAIL: the published ports did not reach the task" >&2; exit 1; }
echo "ok: tcp 30080 and udp 30090 on the node reach the task's 8080 and 9090 through the ingress namespace"
