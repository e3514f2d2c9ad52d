// swift-tools-version:6.2
// 6.2, not lower: from it on SwiftPM lets a package that depends on this one by a version tag
// build it with its unsafeFlags below (with 6.1 it refused: "contains unsafe build flags").
import PackageDescription

// SIMD8<Float> arithmetic compiles to pairs of SSE instructions for the x86-64 baseline, and to
// single AVX instructions for Haswell (2013) and later. Swift never fuses a * b + c on its own,
// so values are the same either way.
#if arch(x86_64)
let avx2: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "haswell"])]
#else
let avx2: [SwiftSetting] = []
#endif

// Numeric code runs on raw pointers in hot loops; release builds drop the run-time exclusivity
// checks that otherwise cost up to 17x on optimiser-style loops (see ../shared/design.md).
// Language mode 5: the numeric core shares buffers across DispatchQueue.concurrentPerform
// workers by design, which Swift 6's strict checking cannot express without noise.
let core: [SwiftSetting] = [
    .swiftLanguageMode(.v5),
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
] + avx2

let package = Package(
    name: "swift-rlhf",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "rlhf", targets: ["rlhf"]),
        .library(name: "Support", targets: ["Support"]),
        .library(name: "Tensors", targets: ["Tensors"]),
        .library(name: "Models", targets: ["Models"]),
        .library(name: "Tokenizers", targets: ["Tokenizers"]),
        .library(name: "Training", targets: ["Training"]),
        .library(name: "Feedback", targets: ["Feedback"]),
        .library(name: "LabelServer", targets: ["LabelServer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // The labeling web app (LabelServer). Hummingbird's swift-configuration trait is off:
        // the server takes its settings from rlhf's flags, and the package is a minute of build.
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1", traits: ["FullFoundation"]),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        // Already in the graph through Hummingbird; named so LabelServer may import them directly.
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.14.0"),
    ],
    // Tests read shared fixtures from Tests/Fixtures by path (see FixturePaths in each test target).
    targets: [
        .systemLibrary(
            name: "COpenBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        // Hand-written C: few-row products (where OpenBLAS's general path loses), the worker pool of
        // the split kernels, and the memory-bandwidth benchmark's loop.
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O3", "-ffp-contract=on"])]),
        .target(name: "Support", swiftSettings: core),
        .target(name: "Tensors", dependencies: ["COpenBLAS", "CKernels", "Support"], swiftSettings: core),
        .target(name: "Tokenizers", dependencies: ["Support"], swiftSettings: core),
        .target(name: "Models", dependencies: ["Tensors", "Tokenizers", "Support"], swiftSettings: core),
        .target(name: "Feedback", dependencies: ["Support"], swiftSettings: core),
        .target(name: "Training", dependencies: ["Tensors", "Models", "Tokenizers", "Feedback", "Support"], swiftSettings: core),
        .target(
            name: "LabelServer",
            dependencies: [
                "Support", "Feedback", "Models", "Tokenizers", "Tensors",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .executableTarget(
            name: "rlhf",
            dependencies: [
                "Support", "Tensors", "Models", "Tokenizers", "Training", "Feedback", "LabelServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: core
        ),
        .testTarget(name: "TensorsTests", dependencies: ["Tensors"], swiftSettings: core),
        .testTarget(name: "SupportTests", dependencies: ["Support"], swiftSettings: core),
        .testTarget(name: "TokenizersTests", dependencies: ["Tokenizers", "Support"], swiftSettings: core),
        .testTarget(name: "ModelsTests", dependencies: ["Models", "Tensors", "Tokenizers", "Support"], swiftSettings: core),
        .testTarget(name: "FeedbackTests", dependencies: ["Feedback"], swiftSettings: core),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Models", "Tensors", "Feedback"], swiftSettings: core),
        .testTarget(
            name: "LabelServerTests",
            dependencies: [
                "LabelServer", "Feedback", "Support",
                // Not HummingbirdTesting: its HTTP client brings TLS and BoringSSL's C sources,
                // 44% of a clean build (Tests/LabelServerTests/RouterClient.swift).
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
    ]
)
