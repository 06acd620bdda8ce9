// Benchmarks for the Netlink module against the iproute2 / ipvsadm anchors, run in the same
// process on the same entries (see docs/benchmarks.md for what each measures and how).
//
//   shoal-bench fdb-neigh [--count 10000] [--runs 7]               (root; this host)
//   shoal-bench ipvs [--services 2000] [--dests 10] [--runs 7]     (root; inside scripts/kernel-vm)
//   shoal-bench scale [--namespaces 1000]                          (root; IPVS only in the VM)
import Foundation
import Glibc

do {
    switch CommandLine.arguments.dropFirst().first {
    case "fdb-neigh": try fdbNeighbour()
    case "ipvs": try ipvs()
    case "scale": try await scale()
    default:
        print(
            "usage: shoal-bench fdb-neigh [--count N] [--runs R] | ipvs [--services N] [--dests D] [--runs R]"
                + " | scale [--namespaces N]")
        exit(2)
    }
} catch {
    print("shoal-bench: \(error)")
    exit(1)
}
