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
        .library(name: "Netlink", targets: ["Netlink"]),
        .library(name: "ShoalModel", targets: ["ShoalModel"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2")
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
        .executableTarget(
            name: "shoald",
            dependencies: [
                "Netlink", "ShoalModel",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "NetlinkTests", dependencies: ["Netlink"], swiftSettings: strict),
        .testTarget(name: "NetlinkNetnsTests", dependencies: ["Netlink"], swiftSettings: strict),
        .testTarget(name: "NetlinkVMTests", dependencies: ["Netlink"], swiftSettings: strict),
        .executableTarget(name: "shoal-bench", dependencies: ["Netlink"], swiftSettings: strict),
        .testTarget(name: "ShoalModelTests", dependencies: ["ShoalModel"], swiftSettings: strict),
    ]
)
