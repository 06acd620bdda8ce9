// swift-tools-version: 6.2
import PackageDescription

// Our own Swift targets: Swift 6 mode, every warning is an error.
let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .treatAllWarnings(as: .error),
]

let package = Package(
    name: "Shoal",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "shoald", targets: ["shoald"]),
        .executable(name: "shoalctl", targets: ["shoalctl"]),
        .library(name: "Netlink", targets: ["Netlink"]),
        .library(name: "ShoalModel", targets: ["ShoalModel"]),
        .library(name: "ShoalPKI", targets: ["ShoalPKI"]),
        .library(name: "ShoalCore", targets: ["ShoalCore"]),
        .library(name: "ShoalAgent", targets: ["ShoalAgent"]),
        .library(name: "ShoalDNS", targets: ["ShoalDNS"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.7.4"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        // C: libnl-route-3 for rtnetlink, libmnl for IPVS generic netlink.
        .systemLibrary(
            name: "CNetlinkRoute",
            pkgConfig: "libnl-route-3.0",
            providers: [.apt(["libnl-3-dev", "libnl-route-3-dev"])]
        ),
        .systemLibrary(
            name: "CMnl",
            pkgConfig: "libmnl",
            providers: [.apt(["libmnl-dev"])]
        ),
        .target(
            name: "Netlink",
            dependencies: ["CNetlinkRoute", "CMnl"],
            swiftSettings: strict
        ),
        .target(name: "ShoalModel", swiftSettings: strict),
        // Cluster CA, join tokens, node credentials, peer verification, mutual TLS configurations.
        .target(
            name: "ShoalPKI",
            dependencies: [
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "ShoalCore",
            dependencies: [
                "ShoalModel", "ShoalPKI",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "HashTreeCollections", package: "swift-collections"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // Join, credentials, renewal and the mutual TLS control-plane client of a node (HTTP/1.1 over NIOSSL).
        .target(
            name: "ShoalAgent",
            dependencies: [
                "ShoalModel", "ShoalPKI", "Netlink", "ShoalDNS",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(name: "shoalctl", dependencies: ["ShoalCtlKit"], swiftSettings: strict),
        // shoalctl's commands, output formats, progress and stack files (Compose subset), testable.
        .target(
            name: "ShoalCtlKit",
            dependencies: [
                "ShoalModel", "ShoalAgent", "ShoalPKI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "ShoalCtlTests",
            dependencies: [
                "ShoalCtlKit", "ShoalModel",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "ShoalAgentTests",
            dependencies: [
                "ShoalAgent", "ShoalCore", "ShoalModel", "ShoalPKI",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "shoald",
            dependencies: [
                "Netlink", "ShoalModel", "ShoalCore", "ShoalAgent", "ShoalPKI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "NetlinkTests", dependencies: ["Netlink"], swiftSettings: strict),
        // The agent's planners, data plane loop and feed follower against a fake kernel: no root.
        .testTarget(
            name: "ShoalAgentDataPlaneTests", dependencies: ["ShoalAgent", "ShoalModel"],
            swiftSettings: strict),
        // For the netns and VM tests: runs `ip`, `bridge` and `ipvsadm` in namespaces it cleans up, and checks NetlinkErrors.
        .target(
            name: "NetlinkTestSupport", dependencies: ["Netlink"], path: "Tests/NetlinkTestSupport",
            swiftSettings: strict),
        .testTarget(
            name: "NetlinkNetnsTests", dependencies: ["Netlink", "NetlinkTestSupport"], swiftSettings: strict),
        .testTarget(
            name: "NetlinkVMTests", dependencies: ["Netlink", "NetlinkTestSupport"], swiftSettings: strict),
        .executableTarget(name: "shoal-bench", dependencies: ["Netlink"], swiftSettings: strict),
        // Embedded DNS: codec, record table, UDP+TCP server on sockets the caller binds, forwarder with a cache.
        .target(
            name: "ShoalDNS",
            dependencies: [
                "ShoalModel",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // Corpus: real packets captured from dig and unbound, the codec vectors' and the fuzz run's seeds.
        .testTarget(
            name: "ShoalDNSTests",
            dependencies: [
                "ShoalDNS", "ShoalModel",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            exclude: ["Corpus"],
            swiftSettings: strict
        ),
        // Runs ShoalDNS for the netns tests and the dnsperf benchmark (listeners inside namespaces it is given).
        .executableTarget(
            name: "shoal-dns",
            dependencies: [
                "ShoalDNS", "ShoalModel",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // The agent data plane with many remote endpoints: time against iproute2, resident memory.
        .executableTarget(
            name: "shoal-agent-bench", dependencies: ["ShoalAgent", "ShoalModel"], swiftSettings: strict),
        // The mesh: 2,000 VIP services x 10 tasks synced from empty vs `ipvsadm -R`; one change's cost.
        .executableTarget(
            name: "shoal-mesh-bench", dependencies: ["ShoalAgent", "ShoalModel"], swiftSettings: strict),
        // The orchestration core at 1,000 nodes and 100,000 tasks (docs/benchmarks.md).
        .executableTarget(
            name: "shoal-core-bench", dependencies: ["ShoalCore", "ShoalModel"], swiftSettings: strict),
        .testTarget(name: "ShoalModelTests", dependencies: ["ShoalModel"], swiftSettings: strict),
        .testTarget(
            name: "ShoalPKITests",
            dependencies: [
                "ShoalPKI",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "ShoalCoreTests",
            dependencies: [
                "ShoalCore", "ShoalModel",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
    ]
)
