#!/usr/bin/env python3
"""Record tables for the DNS netns tests and the dnsperf benchmark.

  dns-fixtures.py lab DIR     a small two-network view for tests/netns/dns-*.sh (DIR/view.json)
  dns-fixtures.py bench DIR   2,000 service names + 200 tasks. names with 5 addresses each, as a
                              Shoal view, unbound local-data, a dnsmasq hosts file and a dnsperf
                              query file with the 80/15/5 mix (service / tasks / unknown)
"""
import json
import os
import random
import sys


def network(nid, name, subnet, gateway):
    return {"kind": "network", "id": nid, "name": name, "vni": 4096 + len(nid), "subnet": subnet,
            "gateway": gateway, "mtu": 1450, "internal": False, "ingress": False, "loadBalancerIP": None}


def service(net, sid, name, mode, vip=None, aliases=(), ports=()):
    return {"kind": "service", "networkID": net, "serviceID": sid, "serviceName": name,
            "aliases": list(aliases), "endpointMode": mode, "virtualIP": vip, "ports": list(ports)}


def endpoint(net, tid, tname, sid, sname, address, aliases=(), state="up"):
    n = sum(int(o) for o in address.split("."))
    return {"kind": "endpoint", "networkID": net, "taskID": tid, "taskName": tname, "serviceID": sid,
            "serviceName": sname, "aliases": list(aliases), "address": address,
            "mac": "02:42:00:00:%02x:%02x" % (n // 256 % 256, n % 256), "nodeID": "n1",
            "nodeAddress": "172.29.0.11", "state": state}


def task(tid, name, nets):
    return {"kind": "task", "id": tid, "name": name, "serviceID": "s-" + tid, "serviceName": name,
            "slot": 1, "desiredState": "running", "spec": {"command": ["sleep"], "env": [], "hostPorts": []},
            "endpoints": [{"networkID": n, "networkName": n, "aliases": []} for n in nets]}


def lab(out):
    view = [network("front", "front", "10.10.0.0/24", "10.10.0.1"),
            network("back", "back", "10.20.0.0/24", "10.20.0.1"),
            task("t-cf", "client-front.1.t-cf", ["front"]),
            task("t-cb", "client-back.1.t-cb", ["back"]),
            service("front", "s-web", "web", "vip", "10.10.0.2", aliases=["www"],
                    ports=[{"protocol": "tcp", "target": 80, "publishMode": "ingress", "name": "http"}]),
            endpoint("front", "w1", "web.1.w1", "s-web", "web", "10.10.0.11", aliases=["web-primary"]),
            endpoint("front", "w2", "web.2.w2", "s-web", "web", "10.10.0.12"),
            endpoint("front", "w3", "web.3.w3", "s-web", "web", "10.10.0.13", state="draining"),
            service("back", "s-db", "db", "dnsrr"),
            endpoint("back", "d1", "db.1.d1", "s-db", "db", "10.20.0.21"),
            endpoint("back", "d2", "db.2.d2", "s-db", "db", "10.20.0.22"),
            service("front", "s-api", "api", "vip", "10.10.0.3"),
            service("back", "s-api", "api", "vip", "10.20.0.3"),
            service("front", "s-big", "big", "dnsrr")]
    view += [endpoint("front", "b%d" % i, "big.%d.b%d" % (i, i), "s-big", "big", "10.10.0.%d" % (100 + i))
             for i in range(1, 61)]
    with open(os.path.join(out, "view.json"), "w") as f:
        json.dump(view, f)


def bench(out):
    rng = random.Random(11)
    view = [network("bench", "bench", "10.64.0.0/10", "10.64.0.1")]
    unbound = ['local-zone: "bench." static',
               'local-data: "bench. 3600 IN SOA ns.bench. hostmaster.bench. 1 3600 600 86400 30"']
    hosts = []
    for i in range(2000):
        vip = "10.%d.%d.%d" % (64 + i // 65536, i // 256 % 256, i % 256 + 0)
        vip = "10.100.%d.%d" % (i // 250, i % 250 + 1)
        view.append(service("bench", "s%d" % i, "svc%d" % i, "vip", vip))
        unbound.append('local-data: "svc%d.bench. 60 IN A %s"' % (i, vip))
        hosts.append("%s svc%d.bench" % (vip, i))
    for i in range(200):
        for k in range(5):
            address = "10.101.%d.%d" % (i, k + 1)
            view.append(endpoint("bench", "t%d-%d" % (i, k), "svc%d.%d.t%d-%d" % (i, k + 1, i, k),
                                 "s%d" % i, "svc%d" % i, address))
            unbound.append('local-data: "tasks.svc%d.bench. 10 IN A %s"' % (i, address))
            hosts.append("%s tasks.svc%d.bench" % (address, i))
    queries = []
    for _ in range(100000):
        roll = rng.random()
        if roll < 0.80:
            queries.append("svc%d.bench A" % rng.randrange(2000))
        elif roll < 0.95:
            queries.append("tasks.svc%d.bench A" % rng.randrange(200))
        else:
            queries.append("unknown%d.bench A" % rng.randrange(500))
    with open(os.path.join(out, "view.json"), "w") as f:
        json.dump(view, f)
    with open(os.path.join(out, "unbound-local.conf"), "w") as f:
        f.write("\n".join(unbound) + "\n")
    with open(os.path.join(out, "hosts"), "w") as f:
        f.write("\n".join(hosts) + "\n")
    with open(os.path.join(out, "queries"), "w") as f:
        f.write("\n".join(queries) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("lab", "bench"):
        sys.exit(__doc__)
    {"lab": lab, "bench": bench}[sys.argv[1]](sys.argv[2])
