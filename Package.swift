// swift-tools-version:6.2
import PackageDescription

/// Settings shared by every Swift target (STYLE.md §Package.swift).
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "rivven-mqtt",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "rivven-mqtt", targets: ["rivven-mqtt"]),
        .library(name: "FastIngest", targets: ["FastIngest"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        .systemLibrary(
            name: "CMosquitto",
            pkgConfig: "libmosquitto",
            providers: [.apt(["libmosquitto-dev"])]
        ),
        .systemLibrary(
            name: "CURing",
            pkgConfig: "liburing",
            providers: [.apt(["liburing-dev"])]
        ),
        .target(
            name: "FastIngest",
            dependencies: [
                "CMosquitto",
                "CURing",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "rivven-mqtt",
            dependencies: [
                "FastIngest",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FastIngestTests",
            dependencies: [
                "FastIngest",
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "RivvenMQTTTests",
            dependencies: [
                "rivven-mqtt",
                "FastIngest",
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
