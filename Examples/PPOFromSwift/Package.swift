// swift-tools-version:6.2
// A program that uses swift-rlhf as a library, the way another package would: the README's
// "From Swift" example, built and run by CI so that the example and the public API it shows
// cannot drift apart. Outside this repository, depend on the package by URL instead:
//     .package(url: "<this repository>", branch: "main")
import PackageDescription

let package = Package(
    name: "PPOFromSwift",
    platforms: [.macOS(.v14)],
    dependencies: [
        // `name:` because SwiftPM otherwise names a path dependency after its folder, which is
        // whatever the clone is called; by URL it is the URL's last part, "swift-rlhf".
        .package(name: "swift-rlhf", path: "../.."),
    ],
    targets: [
        .executableTarget(name: "PPOFromSwift", dependencies: [.product(name: "Models", package: "swift-rlhf"),
                                                               .product(name: "Training", package: "swift-rlhf")]),
    ]
)
