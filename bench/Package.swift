// swift-tools-version:6.2
import PackageDescription

// Benchmarks of rivven-mqtt's hot path, kept out of the root package so that `swift build` / `swift test` there
// never resolve or build ordo-one/benchmark. Run from this folder:
//
//     swift package --disable-sandbox benchmark
//     swift package --disable-sandbox benchmark thresholds check
//
// The nested package sees only FastIngest's `public` API (`package` declarations stay inside the root package).
let package = Package(
    name: "rivven-mqtt-bench",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "rivven-mqtt", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "IngestBenchmarks",
            dependencies: [
                .product(name: "FastIngest", package: "rivven-mqtt"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/IngestBenchmarks",
            plugins: [
                .plugin(name: "BenchmarkPlugin", package: "benchmark")
            ]
        )
    ]
)
