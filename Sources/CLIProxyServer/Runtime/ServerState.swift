import Accounts
import Logging
import ProxyConfig
import RuleEngine
import Synchronization
import UpstreamTransport
#if canImport(Glibc)
import Glibc
#endif

/// Everything a request needs, as one immutable snapshot: the config, the
/// compiled rules, the providers and the router built from them. A reload
/// builds a new snapshot beside the old one and swaps it in; requests in
/// flight finish on the snapshot they started with.
public struct ServerState: Sendable {
    public let config: ProxyConfig
    public let configPath: String
    public let rules: RuleSet
    public let catalog: ProviderCatalog
    public let router: ModelRouter
    /// The signed-in accounts of `auth-dir` (long-lived: the same store is
    /// carried into every new snapshot; its accounts are read at build time).
    public let accounts: AccountStore?

    /// How upstream calls connect and time out.
    public var transportOptions: TransportOptions {
        TransportOptions(proxyURL: config.proxyURL.isEmpty ? nil : config.proxyURL,
                         connectTimeout: Self.seconds(config.connectTimeout),
                         idleReadTimeout: Self.seconds(config.streamIdleTimeout),
                         headTimeout: Self.seconds(config.streamIdleTimeout))
    }

    /// The transport options of one credential: its own proxy (`direct` or
    /// `none` for no proxy) wins over the config's.
    public func transportOptions(for credential: Credential) -> TransportOptions {
        var o = transportOptions
        if let p = credential.proxyURL { o.proxyURL = ["direct", "none"].contains(p) ? nil : p }
        return o
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    public init(config: ProxyConfig, configPath: String, rules: RuleSet, catalog: ProviderCatalog, health: CredentialHealth,
                accounts: AccountStore? = nil) {
        self.config = config
        self.configPath = configPath
        self.rules = rules
        self.catalog = catalog
        self.accounts = accounts
        self.router = ModelRouter(credentials: Credential.all(config: config, catalog: catalog, accounts: accounts?.accounts ?? []),
                                  catalog: catalog, health: health)
    }

    /// The same rules with another config (a config reload).
    public func with(config: ProxyConfig, health: CredentialHealth) -> ServerState {
        ServerState(config: config, configPath: configPath, rules: rules, catalog: catalog, health: health, accounts: accounts)
    }

    /// The same config with other rules (a rules reload).
    public func with(rules: RuleSet, catalog: ProviderCatalog, health: CredentialHealth) -> ServerState {
        ServerState(config: config, configPath: configPath, rules: rules, catalog: catalog, health: health, accounts: accounts)
    }

    /// The same config and rules, with the accounts as the store now holds them.
    public func rebuilt(health: CredentialHealth) -> ServerState {
        ServerState(config: config, configPath: configPath, rules: rules, catalog: catalog, health: health, accounts: accounts)
    }

    /// Login and refresh settings by provider id: each provider's `oauth`
    /// section with the config's `upstreams.<id>` endpoint overrides.
    public static func oauthSpecs(catalog: ProviderCatalog, config: ProxyConfig) -> [String: OAuthSpec] {
        var out: [String: OAuthSpec] = [:]
        for (id, p) in catalog.providers {
            guard let spec = p.oauth else { continue }
            let u = config.upstreams[id]
            out[id] = spec.overriding(authURL: u?.authURL, tokenURL: u?.tokenURL, deviceURL: u?.deviceURL)
        }
        return out
    }

    /// The rules folder: `--rules` when given, else `rules-dir` from the config
    /// (relative to the config's folder), else `Rules` beside the config file,
    /// else `Rules` beside the executable or in `../share/cliproxy/` from it.
    public static func rulesDirectory(explicit: String?, config: ProxyConfig, configPath: String) -> String {
        if let explicit { return FileSystem.absolute(explicit) }
        let configDir = Self.directory(of: FileSystem.absolute(configPath))
        if let dir = config.rulesDirPath ?? config.rulesDir {
            return dir.hasPrefix("/") ? dir : FileSystem.absolute(configDir + "/" + dir)
        }
        let candidates = [configDir + "/Rules"] + executableDirectories().flatMap { [$0 + "/Rules", $0 + "/../share/cliproxy/Rules"] }
        return candidates.map(FileSystem.absolute).first(where: FileSystem.isDirectory) ?? FileSystem.absolute(configDir + "/Rules")
    }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    static func executableDirectories() -> [String] {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buf, buf.count - 1)
        guard n > 0 else { return [] }
        let path = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return [directory(of: path)]
    }

    /// Loads config and rules from disk.
    public static func load(configPath: String, rulesDir: String?, health: CredentialHealth, threads: Int? = nil,
                            logger: Logger, transport: UpstreamTransport? = nil) async throws -> ServerState {
        let config: ProxyConfig
        switch ProxyConfig.load(path: configPath) {
        case .success(let (c, warnings)):
            for w in warnings { logger.warning("\(w)") }
            config = c
        case .failure(let e):
            throw e
        }
        let root = rulesDirectory(explicit: rulesDir, config: config, configPath: configPath)
        let rules = try await RuleSet.build(root: root, threads: threads)
        let catalog = try ProviderCatalog.load(rulesRoot: root, files: rules.source.providerFiles)
        let accounts = makeAccountStore(config: config, catalog: catalog, transport: transport ?? UpstreamTransport(), logger: logger)
        return ServerState(config: config, configPath: configPath, rules: rules, catalog: catalog, health: health, accounts: accounts)
    }

    /// The account store of `auth-dir`, loaded once. Broken files are
    /// skipped with a warning naming them (the store logs them).
    static func makeAccountStore(config: ProxyConfig, catalog: ProviderCatalog, transport: UpstreamTransport, logger: Logger) -> AccountStore {
        let base = TransportOptions(proxyURL: config.proxyURL.isEmpty ? nil : config.proxyURL, connectTimeout: seconds(config.connectTimeout),
                                    idleReadTimeout: 60, totalTimeout: 60)
        let store = AccountStore(directory: AuthDirectory(path: config.authDirPath), specs: oauthSpecs(catalog: catalog, config: config),
                                 transport: transport,
                                 options: { file in
                                     var o = base
                                     if let p = file.proxyURL { o.proxyURL = ["direct", "none"].contains(p) ? nil : p }
                                     return o
                                 },
                                 clock: { Double(Clock.unixSeconds()) }, logger: logger)
        try? AuthDirectory(path: config.authDirPath).ensureExists()  // watched for new accounts from the start
        let report = store.reload()
        if !report.added.isEmpty { logger.info("\(report.added.count) account(s) in \(config.authDirPath)") }
        return store
    }
}

/// Holds the current snapshot; `update` swaps it atomically.
public final class ServerStateStore: Sendable {
    private let current: Mutex<ServerState>
    public let health: CredentialHealth

    public init(_ state: ServerState, health: CredentialHealth) {
        current = Mutex(state)
        self.health = health
        LogLevelSwitch.follow(debug: state.config.debug)
    }

    public var state: ServerState { current.withLock { $0 } }

    /// Swaps in the next snapshot; the log level follows its `debug`.
    public func update(_ f: (ServerState) -> ServerState) {
        let debug = current.withLock { s in
            s = f(s)
            return s.config.debug
        }
        LogLevelSwitch.follow(debug: debug)
    }
}
