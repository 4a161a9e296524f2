import Accounts
import Logging
import ProxyConfig
import RuleEngine
import ServiceLifecycle
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Hot reload: watches the config file, the rules folder and the auth
/// directory (inotify), and on a change builds a new snapshot beside the
/// current one. A valid change
/// is swapped in atomically — requests in flight finish on the old snapshot;
/// an invalid one is refused with the reason (file and line) and the old one
/// keeps serving.
struct Reloader: Service {
    let store: ServerStateStore
    let rulesOverride: String?
    let logger: Logger
    let watcher = FileWatcher()

    /// Starts watching at once, before the server accepts its first request:
    /// the service itself may start later (services start concurrently), and
    /// a file changed in between would otherwise go unnoticed.
    init(store: ServerStateStore, rulesOverride: String?, logger: Logger) {
        self.store = store
        self.rulesOverride = rulesOverride
        self.logger = logger
        watch(watcher)
    }

    func run() async throws {
        defer { watcher.stop() }
        let changes = watcher.changes
        try await cancelWhenGracefulShutdown {
            var iterator = changes.makeAsyncIterator()
            while var changed = await iterator.next() {
                // Debounce: an editor's save is several events; take them all.
                try? await Task.sleep(for: .milliseconds(50))
                changed.formUnion(watcher.drain())
                await reload(changed)
                watch(watcher)
            }
        }
    }

    /// Watches the config file's folder, every folder of the rules, and the
    /// auth directory.
    func watch(_ w: FileWatcher) {
        let state = store.state
        w.watch(ServerState.directory(of: FileSystem.absolute(state.configPath)))
        if state.accounts != nil { w.watch(FileSystem.absolute(state.config.authDirPath), markWrites: false) }
        let root = state.rules.source.root
        w.watch(root)
        for rel in FileSystem.walk(root) {
            if let slash = rel.lastIndex(of: "/") { w.watch(root + "/" + rel[..<slash]) }
        }
    }

    func reload(_ changed: Set<String>) async {
        let old = store.state
        let configFile = FileSystem.absolute(old.configPath)
        let rulesRoot = old.rules.source.root
        var configChanged = changed.contains(configFile)
        var rulesChanged = changed.contains { $0 == rulesRoot || $0.hasPrefix(rulesRoot + "/") }
        let authDir = FileSystem.absolute(old.config.authDirPath)
        if let accounts = old.accounts, changed.contains(where: { $0 == authDir || $0.hasPrefix(authDir + "/") }) {
            reloadAccounts(accounts)
        }
        // A file truncated or written since its close event (an in-place save
        // of the next version under way) is left until its own close: reading
        // it now would load a partial file.
        let unfinished = watcher.beingWritten(changed)
        if unfinished.contains(configFile) { configChanged = false }
        if unfinished.contains(where: { $0.hasPrefix(rulesRoot + "/") }) { rulesChanged = false }
        guard configChanged || rulesChanged else { return }

        var config = old.config
        if configChanged {
            // An empty file is refused although it parses (to all defaults): an
            // in-place save truncates before it writes, and a reload caught in
            // between would drop every provider until the next event (the
            // reload soak saw 1.4 s of 404s). The write's own event follows.
            switch ProxyConfig.load(path: old.configPath, refusingEmpty: true) {
            case .failure(let e):
                logger.error("config not reloaded, the running one stays: \(e)")
            case .success(let (c, warnings)):
                for w in warnings { logger.warning("\(w)") }
                if c.port != old.config.port || c.host != old.config.host {
                    logger.warning("port or host changed in \(old.configPath): restart cliproxy to listen there")
                }
                if c.authDirPath != old.config.authDirPath {
                    logger.warning("auth-dir changed in \(old.configPath): restart cliproxy to read accounts from \(c.authDirPath)")
                }
                config = c
                // A plaintext management key edited into the file is hashed and written back.
                if let hash = ManagementKey.secure(configPath: old.configPath, config: c, logger: logger) {
                    config.remoteManagement.secretKey = Secret(hash)
                }
                let newRoot = ServerState.rulesDirectory(explicit: rulesOverride, config: c, configPath: old.configPath)
                if newRoot != rulesRoot { rulesChanged = true }
            }
        }
        if rulesChanged {
            let root = ServerState.rulesDirectory(explicit: rulesOverride, config: config, configPath: old.configPath)
            do {
                // On the running set's threads: only programs whose files changed are compiled.
                let rules = try await RuleSet.build(root: root, beside: old.rules)
                let catalog = try ProviderCatalog.load(rulesRoot: root, files: rules.source.providerFiles)
                old.accounts?.specs(ServerState.oauthSpecs(catalog: catalog, config: config))
                store.update { _ in ServerState(config: config, configPath: old.configPath, rules: rules, catalog: catalog, health: store.health, accounts: old.accounts) }
                // Without CAP_SYS_NICE (or `ulimit -e 30`) the compile shares the CPU with the traffic.
                let priority = RuleSet.compilePriorityRaised == false && !rules.compiledPrograms.isEmpty ? ", at normal priority" : ""
                logger.info("rules reloaded from \(root) (\(rules.dialects.count) dialects, compiled \(rules.compiledPrograms.isEmpty ? "nothing" : rules.compiledPrograms.joined(separator: ", ")), \(Int(rules.buildMilliseconds)) ms\(priority))")
                return
            } catch {
                logger.error("rules not reloaded, the running ones stay: \(error)")
            }
        }
        if config != old.config {
            old.accounts?.specs(ServerState.oauthSpecs(catalog: old.catalog, config: config))
            store.update { $0.with(config: config, health: store.health) }
            logger.info("config reloaded from \(old.configPath)")
        }
    }

    /// Rereads the auth directory; when an account was added, changed or
    /// removed, the router is rebuilt with the accounts as they are now.
    /// (A token refresh rewrites its file with content the store already
    /// holds, which changes nothing here.)
    func reloadAccounts(_ accounts: AccountStore) {
        let report = accounts.reload()
        guard !report.isEmpty else { return }
        store.update { $0.rebuilt(health: store.health) }
        var parts: [String] = []
        if !report.added.isEmpty { parts.append("added \(report.added.joined(separator: ", "))") }
        if !report.changed.isEmpty { parts.append("changed \(report.changed.joined(separator: ", "))") }
        if !report.removed.isEmpty { parts.append("removed \(report.removed.joined(separator: ", "))") }
        logger.info("accounts reloaded: \(parts.joined(separator: "; "))")
    }
}
