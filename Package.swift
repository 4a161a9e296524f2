// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "cliproxy",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "cliproxy", targets: ["cliproxy"]),
        .library(name: "RuleEngine", targets: ["RuleEngine"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // libjq 1.6 (Debian libjq-dev). A system library target: Debian ships no .pc file for jq.
        .systemLibrary(name: "CJQ", path: "Sources/CJQ", providers: [.apt(["libjq-dev"])]),
        // The translation engine: compiles Rules/ through libjq and runs it off Swift's cooperative pool.
        .target(name: "RuleEngine", dependencies: ["CJQ"]),
        .executableTarget(
            name: "cliproxy",
            dependencies: [
                "RuleEngine",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        // glibc's malloc statistics, for the leak tests.
        .systemLibrary(name: "CMalloc", path: "Tests/CMalloc"),
        .testTarget(name: "RuleEngineTests", dependencies: ["RuleEngine", "CJQ", "CMalloc"]),
        // Benchmarks (`make bench`); results go in docs/BENCHMARKS.md.
        .executableTarget(name: "cliproxy-bench", dependencies: ["RuleEngine"], path: "bench/CLIProxyBench"),
    ]
)
