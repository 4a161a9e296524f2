import Logging
import ProxyConfig
import RuleEngine
import Synchronization
import UsageStore

/// Usage statistics that survive restarts: every finished request becomes a
/// row of the SQLite database (`usage-statistics-path`) while
/// `usage-statistics-enabled` is on. The database opens the first time it is
/// needed — at start-up, or when the setting is switched on while running —
/// and `record` never waits for the disk (UsageStore batches on its own thread).
public final class UsageRecorder: RequestObserver {
    private let store: ServerStateStore
    private let logger: Logger
    private let database = Mutex<(path: String, store: UsageStore)?>(nil)

    init(store: ServerStateStore, logger: Logger) {
        self.store = store
        self.logger = logger
        if store.state.config.usageStatisticsEnabled { _ = current() }
    }

    public var wantsTokens: Bool { store.state.config.usageStatisticsEnabled }

    /// The open database for the running config, opening (or reopening at a
    /// new path) when needed; nil when it cannot be opened (logged).
    func current() -> UsageStore? {
        let config = store.state.config
        let path = config.usageDatabasePath
        let options = UsageStoreOptions(retentionDays: config.usageStatisticsRetentionDays)
        return database.withLock { db -> UsageStore? in
            if let db, db.path == path { return db.store }
            db?.store.close()
            do {
                FileSystem.makeDirectories(ServerState.directory(of: path))
                let opened = try UsageStore(path: path, options: options, logger: logger)
                db = (path, opened)
                logger.info("usage statistics in \(path)")
                return opened
            } catch {
                logger.error("usage statistics cannot be kept in \(path): \(error)")
                db = nil
                return nil
            }
        }
    }

    /// The database when statistics are on, for the management API's reads.
    var reader: UsageStore? { store.state.config.usageStatisticsEnabled ? current() : database.withLock { $0?.store } }

    public func requestFinished(_ r: RequestReport) {
        guard store.state.config.usageStatisticsEnabled, let db = current() else { return }
        let u = r.usage
        db.record(UsageRecord(
            timeMs: UsageRecord.nowMs() - Int64(r.total / 1_000_000), clientKey: r.clientKey, dialect: r.dialect,
            model: r.model, provider: r.provider, account: r.credential, source: r.endpoint, status: r.status,
            latencyMs: Int(r.total / 1_000_000), inputTokens: u?.input ?? 0, outputTokens: u?.output ?? 0,
            reasoningTokens: u?.reasoning ?? 0, cachedTokens: u?.cached ?? 0, totalTokens: u?.total))
    }

    /// Writes what is waiting and closes the database (shutdown).
    public func close() {
        database.withLock { db in db?.store.close(); db = nil }
    }
}
