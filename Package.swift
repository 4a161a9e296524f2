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
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        // traits: [] — no swift-configuration, and only FoundationEssentials is linked.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
    ],
    targets: [
        // System libraries from Debian (no static builds; module maps in each folder).
        // glibc's malloc statistics: /metrics (cliproxy_malloc_*) and the leak tests.
        .systemLibrary(name: "CMalloc", path: "Sources/CMalloc"),
        .systemLibrary(name: "CJQ", path: "Sources/CJQ", providers: [.apt(["libjq-dev"])]),
        .systemLibrary(name: "CYAML", path: "Sources/CYAML", pkgConfig: "yaml-0.1", providers: [.apt(["libyaml-dev"])]),
        .systemLibrary(name: "CCurl", path: "Sources/CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "CCrypt", path: "Sources/CCrypt", pkgConfig: "libcrypt", providers: [.apt(["libcrypt-dev"])]),
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite", providers: [.apt(["libsqlite3-dev"])]),

        // The translation engine: compiles Rules/ through libjq and runs it off Swift's cooperative pool.
        .target(name: "RuleEngine", dependencies: ["CJQ"]),
        // config.yaml, parsed with libyaml into typed settings.
        .target(name: "ProxyConfig", dependencies: ["CYAML"]),
        // Upstream HTTP over libcurl: streaming, proxies, cancellation.
        .target(name: "UpstreamTransport", dependencies: ["CCurl"]),
        // Subscription accounts: credential files, token refresh, and the logins that create them.
        .target(
            name: "Accounts",
            dependencies: [
                "UpstreamTransport",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ]),
        // Per-request usage rows in SQLite, written off the request path; aggregates for the management API.
        .target(
            name: "UsageStore",
            dependencies: [
                "CSQLite",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]),
        // The server: endpoints, authentication, routing, the request path, reload.
        .target(
            name: "CLIProxyServer",
            dependencies: [
                "RuleEngine", "ProxyConfig", "UpstreamTransport", "Accounts", "CCrypt", "UsageStore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),  // HTTPParserError (ClientConnections)
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                "CMalloc",
            ]),
        .executableTarget(
            name: "cliproxy",
            dependencies: [
                "RuleEngine", "CLIProxyServer", "ProxyConfig", "Accounts", "UpstreamTransport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]),

        .testTarget(name: "RuleEngineTests", dependencies: ["RuleEngine", "CJQ", "CMalloc"]),
        .testTarget(
            name: "UsageStoreTests",
            dependencies: ["UsageStore", .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "ProxyConfigTests", dependencies: ["ProxyConfig"]),
        .testTarget(name: "UpstreamTransportTests", dependencies: ["UpstreamTransport"]),
        .testTarget(
            name: "AccountsTests",
            dependencies: [
                "Accounts", "UpstreamTransport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]),
        // Rewrites a credential file until killed: CredentialCrashTests SIGKILLs it mid-write.
        .executableTarget(name: "credential-write-probe", dependencies: ["Accounts"], path: "Tests/CredentialWriteProbe"),
        .testTarget(
            name: "CLIProxyServerTests",
            dependencies: [
                "CLIProxyServer", "RuleEngine", "ProxyConfig", "UpstreamTransport", "Accounts", "UsageStore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        // Benchmarks (`make bench`); results go in docs/BENCHMARKS.md.
        .executableTarget(name: "cliproxy-bench", dependencies: ["RuleEngine"], path: "bench/CLIProxyBench"),
    ]
)
