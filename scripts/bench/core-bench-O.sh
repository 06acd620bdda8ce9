#!/bin/bash
# Builds shoal-core-bench with `swiftc -O -wmo`, without SwiftPM: the same modules as
# `swift build -c release --product shoal-core-bench` (GRDB, swift-collections' HashTreeCollections,
# ShoalModel, ShoalCore, the bench),
# without ShoalCore's HTTP/TLS files, which the bench does not use. SwiftPM's release build links
# NIO and BoringSSL and did not finish in 80 minutes on the shared 2-core machine; this takes a few.
#
#   scripts/bench/core-bench-O.sh [SRC] [OUT]    (defaults: this checkout, /tmp/shoal-core-bench-O)
#
# SRC needs its SwiftPM checkouts (`swift build` once) for GRDB's and swift-collections' sources.
# Both are built once per OUT.
set -euo pipefail
SRC=${1:-${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}}
OUT=${2:-${OUT:-/tmp/shoal-core-bench-O}}
mkdir -p "$OUT"
cd "$OUT"
G=$SRC/.build/checkouts/GRDB.swift
if [ ! -f GRDB.o ]; then
    swiftc -O -wmo -parse-as-library -module-name GRDB -swift-version 6 \
        -I "$G/Sources/GRDBSQLite" -D SQLITE_ENABLE_FTS5 -D SQLITE_ENABLE_SNAPSHOT -D SQLITE_DISABLE_SNAPSHOT \
        -emit-module -emit-module-path GRDB.swiftmodule -c -o GRDB.o $(find "$G/GRDB" -name '*.swift')
fi
# swift-collections' HashTreeCollections (TreeDictionary) and the module it needs, with the flags
# of its Package.swift (availability macros, experimental features).
C=$SRC/.build/checkouts/swift-collections
if [ ! -f HashTreeCollections.o ]; then
    FLAGS=(-O -wmo -parse-as-library -swift-version 6 -package-name swift_collections -I .
        -DCOLLECTIONS_RANDOMIZED_TESTING -enable-upcoming-feature MemberImportVisibility)
    for feature in BuiltinModule Lifetimes InoutLifetimeDependence AddressableParameters AddressableTypes \
        SuppressedAssociatedTypesWithDefaults; do
        FLAGS+=(-enable-experimental-feature "$feature")
    done
    for version in 5.0 5.1 5.6 5.7 5.8 5.9 5.10 6.0 6.1 6.2 6.3 6.4 6.5; do
        FLAGS+=(-enable-experimental-feature "AvailabilityMacro=SwiftStdlib $version: macOS 9999")
    done
    for module in InternalCollectionsUtilities HashTreeCollections; do
        mapfile -d '' files < <(find "$C/Sources/$module" -name '*.swift' -print0)
        swiftc "${FLAGS[@]}" -module-name "$module" \
            -emit-module -emit-module-path "$module.swiftmodule" -c -o "$module.o" "${files[@]}"
    done
fi
swiftc -O -wmo -parse-as-library -module-name ShoalModel -swift-version 6 \
    -emit-module -emit-module-path ShoalModel.swiftmodule -c -o ShoalModel.o "$SRC"/Sources/ShoalModel/*.swift
# ShoalCore minus the HTTP/TLS files (they import Hummingbird, NIO, ServiceLifecycle and the PKI).
HTTP='API|ClusterSecurity|ConnectionLimits|GracefulServers|HTTP10Close|IssuedCertificates|LogRoutes|MethodRoutes|RequestContext|SecureServer|SecurityRoutes'
CORE=$(ls "$SRC"/Sources/ShoalCore/*.swift | grep -v -E "/($HTTP)\.swift$")
swiftc -O -wmo -parse-as-library -module-name ShoalCore -swift-version 6 -I . -I "$G/Sources/GRDBSQLite" \
    -emit-module -emit-module-path ShoalCore.swiftmodule -c -o ShoalCore.o $CORE
swiftc -O -wmo -module-name shoal_core_bench -swift-version 6 -I . -I "$G/Sources/GRDBSQLite" \
    -c -o bench.o "$SRC"/Sources/shoal-core-bench/*.swift
swiftc -o shoal-core-bench bench.o ShoalCore.o ShoalModel.o GRDB.o HashTreeCollections.o \
    InternalCollectionsUtilities.o -lsqlite3
echo "built $OUT/shoal-core-bench"
