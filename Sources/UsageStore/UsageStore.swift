import CSQLite
import Dispatch
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Tuning for a `UsageStore`. The defaults suit a proxy serving a team:
/// a second of rows lost at most on a crash, a bounded memory cost when the
/// disk stalls, a month of history.
public struct UsageStoreOptions: Sendable, Equatable {
    /// Rows older than this many days are deleted; 0 or less keeps everything.
    public var retentionDays: Int
    /// Records held in memory awaiting a write. When the writer falls behind
    /// (a stalled disk) the oldest are dropped and counted, so the request
    /// path never waits and memory stays bounded.
    public var bufferCapacity: Int
    /// A write starts as soon as this many records are waiting, without
    /// waiting for the interval.
    public var batchSize: Int
    /// Waiting records are written at least this often.
    public var flushIntervalMs: Int
    /// How often the writer deletes rows past retention.
    public var pruneIntervalMs: Int

    public init(retentionDays: Int = 30, bufferCapacity: Int = 10_000, batchSize: Int = 256,
                flushIntervalMs: Int = 1_000, pruneIntervalMs: Int = 3_600_000) {
        self.retentionDays = retentionDays
        self.bufferCapacity = max(1, bufferCapacity)
        self.batchSize = max(1, batchSize)
        self.flushIntervalMs = max(1, flushIntervalMs)
        self.pruneIntervalMs = max(1, pruneIntervalMs)
    }
}

/// Counters describing what the store has done, for tests and the metrics
/// endpoint: they make batching and loss visible rather than assumed.
public struct UsageStoreStats: Sendable, Equatable {
    /// Records accepted but not yet written.
    public var pending: Int
    /// Records dropped because the buffer was full, or recorded after `close()`.
    public var droppedRecords: Int
    /// Write transactions committed (one per batch).
    public var transactions: Int
    /// Rows committed since this store was opened.
    public var rowsWritten: Int
    /// Batches that failed to write (their rows are lost and counted in `lostRecords`).
    public var writeFailures: Int
    /// Rows lost to failed writes.
    public var lostRecords: Int
    /// How many times a corrupt database was moved aside and replaced.
    public var recoveries: Int
}

/// Per-request usage statistics in SQLite, kept across restarts.
///
/// `record(_:)` only appends to a bounded in-memory buffer under a short lock,
/// so the request path never touches the disk. A dedicated thread (not a
/// Swift task: it blocks on the disk and would starve the cooperative pool)
/// writes the buffer in one transaction per batch, every `flushIntervalMs` or
/// as soon as `batchSize` records wait, and prunes rows past retention.
///
/// A database that is not SQLite, fails `PRAGMA quick_check`, carries an
/// unknown schema version, or reports corruption while writing is renamed to
/// `<name>.corrupt-<timestamp>` (kept for inspection; deleted only when it
/// cannot be renamed) with a log line, and a fresh database takes its place:
/// losing statistics is better than refusing requests.
///
/// Call `close()` on shutdown: it writes what is waiting and stops the writer
/// thread (which keeps the store alive until then).
public final class UsageStore: Sendable {
    /// The schema this build writes, kept in `PRAGMA user_version`.
    public static let schemaVersion: Int64 = 1

    /// The database file.
    public let path: String
    public let options: UsageStoreOptions
    private let logger: Logger

    /// What the request path touches: held only for an append.
    private let pending: Mutex<PendingState>
    /// Everything that touches the connection, in order; held for a whole
    /// batch so `flush()` returning means every earlier record is committed.
    private let database: Mutex<DatabaseState>
    private let wakeup = DispatchSemaphore(value: 0)
    private let writerDone = DispatchSemaphore(value: 0)

    /// Opens (or creates) the database at `path`, recovering from a corrupt
    /// file, prunes old rows, and starts the writer thread. Throws when no
    /// database can be opened at all (e.g. the directory is not writable).
    public init(path: String, options: UsageStoreOptions = UsageStoreOptions(), logger: Logger) throws {
        self.path = path
        self.options = options
        self.logger = logger
        let (connection, recovered) = try Self.openRecovering(path: path, logger: logger)
        var state = DatabaseState(connection: connection)
        state.recoveries = recovered ? 1 : 0
        state.lastPruneMs = UsageRecord.nowMs()
        if options.retentionDays > 0 {
            do {
                _ = try Self.deleteOlder(than: Self.cutoff(now: state.lastPruneMs, days: options.retentionDays), in: connection)
            } catch {
                logger.warning("usage: pruning old rows failed", metadata: ["error": "\(error)"])
            }
        }
        database = Mutex(state)
        pending = Mutex(PendingState(capacity: options.bufferCapacity))

        let box = Unmanaged.passRetained(self).toOpaque()
        var tid = pthread_t()
        let rc = pthread_create(&tid, nil, { raw in
            let me = Unmanaged<UsageStore>.fromOpaque(raw!).takeRetainedValue()
            me.writerLoop()
            return nil
        }, box)
        if rc != 0 {
            // No thread: balance the retain; records are then written only by flush() and close().
            Unmanaged<UsageStore>.fromOpaque(box).release()
            writerDone.signal()
            logger.error("usage: could not start the writer thread; rows are written on flush only")
        } else {
            pthread_detach(tid)
        }
    }

    // MARK: Request path

    /// Queues one request's usage. Never blocks on the disk: when the buffer
    /// is full the oldest waiting record is dropped and counted.
    public func record(_ record: UsageRecord) {
        let wake = pending.withLock { s -> Bool in
            guard !s.closed else { s.dropped += 1; return false }
            if s.ring.append(record) { s.dropped += 1 }
            if s.ring.count >= options.batchSize && !s.wakeRequested {
                s.wakeRequested = true
                return true
            }
            return false
        }
        if wake { wakeup.signal() }
    }

    // MARK: Control

    /// Writes every record queued so far and returns once they are
    /// committed (for tests, and before reading or shutting down).
    public func flush() throws {
        try database.withLock { db in
            if let error = writePending(&db) { throw error }
        }
    }

    /// Writes what is waiting, stops the writer thread and closes the
    /// database. Records arriving afterwards are dropped. Safe to call twice.
    public func close() {
        let first = pending.withLock { s -> Bool in
            defer { s.closed = true }
            return !s.closed
        }
        guard first else { return }
        wakeup.signal()
        writerDone.wait()
        database.withLock { db in
            _ = writePending(&db)
            db.connection?.close()
            db.connection = nil
        }
    }

    /// Deletes rows older than the retention period measured from `now`
    /// (Unix ms); returns how many went. The writer calls this every
    /// `pruneIntervalMs`; tests call it with a chosen clock.
    @discardableResult
    public func prune(now: Int64 = UsageRecord.nowMs()) throws -> Int {
        guard options.retentionDays > 0 else { return 0 }
        return try database.withLock { db in
            _ = writePending(&db)
            guard let connection = db.connection else { return 0 }
            db.lastPruneMs = now
            return try Self.deleteOlder(than: Self.cutoff(now: now, days: options.retentionDays), in: connection)
        }
    }

    /// Current counters.
    public var stats: UsageStoreStats {
        let (waiting, dropped) = pending.withLock { ($0.ring.count, $0.dropped) }
        return database.withLock { db in
            UsageStoreStats(pending: waiting, droppedRecords: dropped, transactions: db.transactions,
                            rowsWritten: db.rowsWritten, writeFailures: db.writeFailures,
                            lostRecords: db.lostRecords, recoveries: db.recoveries)
        }
    }

    // MARK: Aggregates

    /// Aggregates every row at or after `since` (Unix ms; all rows by
    /// default), after writing what is waiting so the answer is current.
    /// `detailLimit` caps the per key-and-model `details` list (newest first).
    public func snapshot(since: Int64 = .min, detailLimit: Int = 20) throws -> UsageSnapshot {
        try database.withLock { db in
            _ = writePending(&db)
            guard let connection = db.connection else { return UsageSnapshot() }
            return try Self.aggregate(connection, since: since, detailLimit: max(0, detailLimit))
        }
    }

    /// The `GET /v0/management/usage` body: `{"usage":…,"failed_requests":n}`.
    public func usageResponseJSON(since: Int64 = .min, detailLimit: Int = 20) throws -> [UInt8] {
        try UsageResponse(usage: snapshot(since: since, detailLimit: detailLimit)).jsonBytes()
    }

    /// Merges rows from an export (`POST /usage/import`) in one transaction,
    /// skipping those already present (see `sameRowSQL`). Returns how many
    /// were added and skipped.
    public func merge(_ records: [UsageRecord]) throws -> (added: Int, skipped: Int) {
        try database.withLock { db in
            _ = writePending(&db)
            guard let connection = db.connection else { throw SQLiteError(code: 0, message: "usage database is closed") }
            try connection.exec("BEGIN IMMEDIATE")
            do {
                let exists = try connection.prepare(Self.sameRowSQL)
                let insert = try connection.prepare(Self.insertSQL)
                var added = 0
                for r in records {
                    exists.bind(1, r.timeMs); exists.bind(2, r.clientKey); exists.bind(3, r.model)
                    exists.bind(4, r.account); exists.bind(5, r.failed ? 1 : 0); exists.bind(6, r.latencyMs)
                    exists.bind(7, r.inputTokens); exists.bind(8, r.outputTokens); exists.bind(9, r.totalTokens)
                    let present = try exists.step()
                    exists.reset()
                    if present { continue }
                    try Self.bindAndStep(insert, r)
                    added += 1
                }
                try connection.exec("COMMIT")
                db.rowsWritten += added
                return (added, records.count - added)
            } catch {
                try? connection.exec("ROLLBACK")
                throw error
            }
        }
    }

    // MARK: Writer

    private func writerLoop() {
        let interval = DispatchTimeInterval.milliseconds(options.flushIntervalMs)
        while true {
            _ = wakeup.wait(timeout: .now() + interval)
            // Read before draining: every record accepted before `closed` was
            // set is then in the buffer this last pass drains.
            let closing = pending.withLock { $0.closed }
            database.withLock { db in
                _ = writePending(&db)
                if !closing { pruneIfDue(&db) }
            }
            if closing { break }
        }
        writerDone.signal()
    }

    private func pruneIfDue(_ db: inout DatabaseState) {
        guard options.retentionDays > 0, let connection = db.connection else { return }
        let now = UsageRecord.nowMs()
        guard now - db.lastPruneMs >= Int64(options.pruneIntervalMs) else { return }
        db.lastPruneMs = now
        do {
            let removed = try Self.deleteOlder(than: Self.cutoff(now: now, days: options.retentionDays), in: connection)
            if removed > 0 { logger.debug("usage: pruned old rows", metadata: ["rows": "\(removed)"]) }
        } catch {
            logger.warning("usage: pruning old rows failed", metadata: ["error": "\(error)"])
        }
    }

    /// Drains the buffer into one transaction. A corrupt database is moved
    /// aside and the batch retried once on the fresh one; any other failure
    /// loses the batch (counted, logged) rather than growing memory. Returns
    /// the error for `flush()`.
    private func writePending(_ db: inout DatabaseState) -> Error? {
        let batch = pending.withLock { s -> [UsageRecord] in
            s.wakeRequested = false
            return s.ring.drain()
        }
        guard !batch.isEmpty else { return nil }
        guard let connection = db.connection else {
            db.lostRecords += batch.count
            return SQLiteError(code: SQLITE_MISUSE, message: "usage store is closed")
        }
        do {
            try Self.insert(batch, into: connection)
            db.transactions += 1
            db.rowsWritten += batch.count
            return nil
        } catch let error as SQLiteError where error.isCorruption {
            connection.close()
            db.connection = nil
            do {
                Self.moveAside(path: path, reason: "\(error)", logger: logger)
                let (fresh, _) = try Self.openRecovering(path: path, logger: logger)
                db.connection = fresh
                db.recoveries += 1
                try Self.insert(batch, into: fresh)
                db.transactions += 1
                db.rowsWritten += batch.count
                return nil
            } catch {
                db.writeFailures += 1
                db.lostRecords += batch.count
                logger.error("usage: could not replace the corrupt database", metadata: ["error": "\(error)"])
                return error
            }
        } catch {
            db.writeFailures += 1
            db.lostRecords += batch.count
            logger.error("usage: writing rows failed", metadata: ["rows": "\(batch.count)", "error": "\(error)"])
            return error
        }
    }

    // MARK: SQLite

    private static let insertSQL = """
        INSERT INTO requests (time_ms, client_key, dialect, model, provider, account, source, status, failed,
            latency_ms, input_tokens, output_tokens, reasoning_tokens, cached_tokens, total_tokens)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """

    private static func insert(_ batch: [UsageRecord], into connection: SQLiteConnection) throws {
        try connection.exec("BEGIN IMMEDIATE")
        do {
            let stmt = try connection.prepare(insertSQL)
            for r in batch { try bindAndStep(stmt, r) }
            try connection.exec("COMMIT")
        } catch {
            try? connection.exec("ROLLBACK")
            throw error
        }
    }

    private static func bindAndStep(_ stmt: SQLiteStatement, _ r: UsageRecord) throws {
        stmt.bind(1, r.timeMs)
        stmt.bind(2, r.clientKey)
        stmt.bind(3, r.dialect)
        stmt.bind(4, r.model)
        stmt.bind(5, r.provider)
        stmt.bind(6, r.account)
        stmt.bind(7, r.source)
        stmt.bind(8, r.status)
        stmt.bind(9, r.failed ? 1 : 0)
        stmt.bind(10, r.latencyMs)
        stmt.bind(11, r.inputTokens)
        stmt.bind(12, r.outputTokens)
        stmt.bind(13, r.reasoningTokens)
        stmt.bind(14, r.cachedTokens)
        stmt.bind(15, r.totalTokens)
        _ = try stmt.step()
        stmt.reset()
    }

    /// A row counts as already present when one with the same time, key,
    /// model, account, outcome, latency and tokens exists: the fields an
    /// export carries, so importing the same export twice adds nothing.
    private static let sameRowSQL = """
        SELECT 1 FROM requests WHERE time_ms = ? AND client_key = ? AND model = ? AND account = ? AND failed = ?
            AND latency_ms = ? AND input_tokens = ? AND output_tokens = ? AND total_tokens = ? LIMIT 1
        """

    private static func cutoff(now: Int64, days: Int) -> Int64 {
        now - Int64(days) * 86_400_000
    }

    private static func deleteOlder(than cutoff: Int64, in connection: SQLiteConnection) throws -> Int {
        let stmt = try connection.prepare("DELETE FROM requests WHERE time_ms < ?")
        stmt.bind(1, cutoff)
        _ = try stmt.step()
        return connection.changes
    }

    /// Opens the database; when the file is unusable as ours (corrupt, not a
    /// database, unknown schema), moves it aside and opens a fresh one.
    /// Other failures (permissions, a missing directory) are thrown: moving a
    /// healthy file aside would not fix them.
    private static func openRecovering(path: String, logger: Logger) throws -> (SQLiteConnection, recovered: Bool) {
        do {
            return (try openChecked(path: path), false)
        } catch let error as SQLiteError where error.isCorruption {
            moveAside(path: path, reason: "\(error)", logger: logger)
            return (try openChecked(path: path), true)
        }
    }

    /// Opens, verifies and migrates. Unusable files surface as a
    /// corruption-coded `SQLiteError` so `openRecovering` moves them aside.
    private static func openChecked(path: String) throws -> SQLiteConnection {
        let connection = try SQLiteConnection(path: path)
        do {
            try connection.exec("PRAGMA busy_timeout = 5000")
            // quick_check rather than integrity_check: it finds the damage that
            // matters (bad pages, a non-database file) in linear time, without
            // cross-checking every index, so start-up stays fast on a big file.
            let check = try connection.scalarText("PRAGMA quick_check") ?? "no result"
            guard check == "ok" else {
                throw SQLiteError(code: SQLITE_CORRUPT, message: "quick_check: \(check)")
            }
            // WAL: readers (the management API) never block the writer, and a
            // crash loses at most the last uncheckpointed transaction.
            _ = try connection.scalarText("PRAGMA journal_mode = WAL")
            // NORMAL is durable across process crashes in WAL mode; only a power
            // loss can drop the last batch, which is fine for statistics.
            try connection.exec("PRAGMA synchronous = NORMAL")
            let version = try connection.scalarInt("PRAGMA user_version")
            switch version {
            case 0:
                try connection.exec("""
                    BEGIN IMMEDIATE;
                    CREATE TABLE IF NOT EXISTS requests (
                        id INTEGER PRIMARY KEY,
                        time_ms INTEGER NOT NULL,
                        client_key TEXT NOT NULL,
                        dialect TEXT NOT NULL,
                        model TEXT NOT NULL,
                        provider TEXT NOT NULL,
                        account TEXT NOT NULL,
                        source TEXT NOT NULL,
                        status INTEGER NOT NULL,
                        failed INTEGER NOT NULL,
                        latency_ms INTEGER NOT NULL,
                        input_tokens INTEGER NOT NULL,
                        output_tokens INTEGER NOT NULL,
                        reasoning_tokens INTEGER NOT NULL,
                        cached_tokens INTEGER NOT NULL,
                        total_tokens INTEGER NOT NULL
                    );
                    CREATE INDEX IF NOT EXISTS requests_time ON requests (time_ms);
                    CREATE INDEX IF NOT EXISTS requests_key_model_time ON requests (client_key, model, time_ms);
                    PRAGMA user_version = \(schemaVersion);
                    COMMIT;
                    """)
            case schemaVersion:
                break
            default:
                // Written by another (newer) build: this one cannot read it, and
                // writing into it could damage it. Moved aside, it stays intact.
                throw SQLiteError(code: SQLITE_NOTADB, message: "unknown usage schema version \(version)")
            }
            return connection
        } catch {
            connection.close()
            throw error
        }
    }

    /// Renames the database and its WAL/SHM companions to
    /// `<name>.corrupt-<UTC stamp>[-<n>]` (the companions keep their suffixes,
    /// so the moved set can still be opened together for inspection).
    private static func moveAside(path: String, reason: String, logger: Logger) {
        let stamp = UTC.fileStamp(UsageRecord.nowMs())
        var target = "\(path).corrupt-\(stamp)"
        var n = 1
        while access(target, F_OK) == 0 {
            target = "\(path).corrupt-\(stamp)-\(n)"
            n += 1
        }
        var moved = rename(path, target) == 0
        if !moved && errno == ENOENT { moved = true }
        for suffix in ["-wal", "-shm"] {
            _ = rename(path + suffix, target + suffix)
        }
        if moved {
            logger.error("usage: database is corrupt; moved aside, starting a fresh one",
                         metadata: ["path": "\(path)", "moved_to": "\(target)", "reason": "\(reason)"])
        } else {
            // Could not rename (e.g. read-only directory): remove so a fresh
            // database can be created; statistics are not worth refusing requests.
            unlink(path)
            logger.error("usage: database is corrupt and could not be moved; removed it, starting a fresh one",
                         metadata: ["path": "\(path)", "reason": "\(reason)"])
        }
    }

    private static func aggregate(_ c: SQLiteConnection, since: Int64, detailLimit: Int) throws -> UsageSnapshot {
        var snap = UsageSnapshot()

        let totals = try c.prepare("""
            SELECT COUNT(*), COALESCE(SUM(failed), 0), COALESCE(SUM(total_tokens), 0)
            FROM requests WHERE time_ms >= ?
            """)
        totals.bind(1, since)
        if try totals.step() {
            snap.totalRequests = Int(totals.int(0))
            snap.failureCount = Int(totals.int(1))
            snap.successCount = snap.totalRequests - snap.failureCount
            snap.totalTokens = Int(totals.int(2))
        }

        // Buckets are UTC; hours merge all days, as the reference's buckets do.
        for (format, isDay) in [("%Y-%m-%d", true), ("%H", false)] {
            let stmt = try c.prepare("""
                SELECT strftime('\(format)', time_ms / 1000, 'unixepoch') AS bucket, COUNT(*), COALESCE(SUM(total_tokens), 0)
                FROM requests WHERE time_ms >= ? GROUP BY bucket
                """)
            stmt.bind(1, since)
            while try stmt.step() {
                let bucket = stmt.text(0)
                if isDay {
                    snap.requestsByDay[bucket] = Int(stmt.int(1))
                    snap.tokensByDay[bucket] = Int(stmt.int(2))
                } else {
                    snap.requestsByHour[bucket] = Int(stmt.int(1))
                    snap.tokensByHour[bucket] = Int(stmt.int(2))
                }
            }
        }

        let byKeyModel = try c.prepare("""
            SELECT client_key, model, COUNT(*), COALESCE(SUM(failed), 0), COALESCE(SUM(total_tokens), 0)
            FROM requests WHERE time_ms >= ? GROUP BY client_key, model
            """)
        byKeyModel.bind(1, since)
        while try byKeyModel.step() {
            let key = byKeyModel.text(0), model = byKeyModel.text(1)
            let total = Int(byKeyModel.int(2)), failed = Int(byKeyModel.int(3)), tokens = Int(byKeyModel.int(4))
            var api = snap.apis[key] ?? APIUsage()
            api.totalRequests += total
            api.failureCount += failed
            api.successCount += total - failed
            api.totalTokens += tokens
            api.models[model] = ModelUsage(totalRequests: total, successCount: total - failed,
                                           failureCount: failed, totalTokens: tokens)
            snap.apis[key] = api
            var m = snap.models[model] ?? UsageTally()
            m.totalRequests += total
            m.failureCount += failed
            m.successCount += total - failed
            m.totalTokens += tokens
            snap.models[model] = m
        }

        let byAccount = try c.prepare("""
            SELECT account, COUNT(*), COALESCE(SUM(failed), 0), COALESCE(SUM(total_tokens), 0)
            FROM requests WHERE time_ms >= ? GROUP BY account
            """)
        byAccount.bind(1, since)
        while try byAccount.step() {
            let total = Int(byAccount.int(1)), failed = Int(byAccount.int(2))
            snap.accounts[byAccount.text(0)] = UsageTally(totalRequests: total, successCount: total - failed,
                                                          failureCount: failed, totalTokens: Int(byAccount.int(3)))
        }

        if detailLimit > 0 {
            let details = try c.prepare("""
                SELECT client_key, model, time_ms, latency_ms, source, account, failed,
                       input_tokens, output_tokens, reasoning_tokens, cached_tokens, total_tokens
                FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY client_key, model ORDER BY time_ms DESC, id DESC) AS rn
                      FROM requests WHERE time_ms >= ?)
                WHERE rn <= ?
                ORDER BY client_key, model, time_ms DESC, id DESC
                """)
            details.bind(1, since)
            details.bind(2, detailLimit)
            while try details.step() {
                let key = details.text(0), model = details.text(1)
                let detail = RequestDetail(
                    timestamp: UTC.rfc3339(details.int(2)),
                    latencyMs: Int(details.int(3)),
                    source: details.text(4),
                    authIndex: details.text(5),
                    failed: details.int(6) != 0,
                    tokens: TokenCounts(inputTokens: Int(details.int(7)), outputTokens: Int(details.int(8)),
                                        reasoningTokens: Int(details.int(9)), cachedTokens: Int(details.int(10)),
                                        totalTokens: Int(details.int(11))))
                snap.apis[key]?.models[model]?.details.append(detail)
            }
        }
        return snap
    }
}

/// The request path's side of the store: the buffer and its counters.
private struct PendingState {
    var ring: Ring<UsageRecord>
    var dropped = 0
    /// Set when the writer has been woken for a full batch and not yet drained,
    /// so a burst signals the semaphore once, not once per record.
    var wakeRequested = false
    var closed = false

    init(capacity: Int) { ring = Ring(capacity: capacity) }
}

/// The writer's side: the connection and what it has done.
private struct DatabaseState {
    var connection: SQLiteConnection?
    var transactions = 0
    var rowsWritten = 0
    var writeFailures = 0
    var lostRecords = 0
    var recoveries = 0
    var lastPruneMs: Int64 = 0

    init(connection: SQLiteConnection) { self.connection = connection }
}

/// A fixed-capacity FIFO that overwrites its oldest element when full:
/// O(1) appends under the request-path lock, with no reallocation.
struct Ring<Element> {
    private var storage: [Element?]
    private var head = 0
    private(set) var count = 0

    init(capacity: Int) { storage = Array(repeating: nil, count: max(1, capacity)) }

    /// Appends; returns true when the oldest element was dropped to make room.
    mutating func append(_ element: Element) -> Bool {
        if count == storage.count {
            storage[head] = element
            head = (head + 1) % storage.count
            return true
        }
        storage[(head + count) % storage.count] = element
        count += 1
        return false
    }

    /// Removes and returns everything, oldest first.
    mutating func drain() -> [Element] {
        var out: [Element] = []
        out.reserveCapacity(count)
        for i in 0..<count {
            let index = (head + i) % storage.count
            out.append(storage[index]!)
            storage[index] = nil
        }
        head = 0
        count = 0
        return out
    }
}
