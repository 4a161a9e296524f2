import FoundationEssentials
import Logging
import Synchronization
import Testing
@testable import UsageStore

#if canImport(Glibc)
import Glibc
#endif

/// Log lines kept for assertions (the corrupt-file test checks its log line).
final class UsageTestLog: Sendable {
    private let lines = Mutex<[(Logger.Level, String)]>([])
    var all: [(Logger.Level, String)] { lines.withLock { $0 } }
    func append(_ level: Logger.Level, _ text: String) { lines.withLock { $0.append((level, text)) } }

    var logger: Logger { Logger(label: "usage-test", factory: { _ in Handler(log: self) }) }

    struct Handler: LogHandler {
        let log: UsageTestLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            var text = "\(event.message)"
            if let m = event.metadata, !m.isEmpty { text += " \(m)" }
            log.append(event.level, text)
        }
    }
}

/// A fresh temporary directory per test, so tests run in parallel safely.
func makeTempDir() -> String {
    var template = Array("/tmp/cliproxy-usage-XXXXXX".utf8CString)
    return template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
}

func listDir(_ dir: String) -> [String] {
    guard let d = opendir(dir) else { return [] }
    defer { closedir(d) }
    var names: [String] = []
    while let entry = readdir(d) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
        }
        if name != "." && name != ".." { names.append(name) }
    }
    return names.sorted()
}

func writeFile(_ path: String, _ bytes: [UInt8], at offset: Int = 0, truncate: Bool = true) {
    let fd = open(path, O_WRONLY | O_CREAT | (truncate ? O_TRUNC : 0), 0o644)
    precondition(fd >= 0)
    _ = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(offset)) }
    close(fd)
}

func readFile(_ path: String) -> [UInt8] {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { return [] }
    defer { close(fd) }
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n <= 0 { break }
        out += buf[0..<n]
    }
    return out
}

/// 2026-04-14T09:15:04.123Z.
let t0: Int64 = 1_776_158_104_123
let hourMs: Int64 = 3_600_000
let dayMs: Int64 = 86_400_000

/// Options that keep the writer thread out of the way, so tests decide when rows are written.
let manualOptions = UsageStoreOptions(retentionDays: 0, batchSize: 1_000_000, flushIntervalMs: 600_000)

@Suite struct UsageStoreTests {
    @Test func recordsAreAggregatedInTheReferenceShape() throws {
        let path = makeTempDir() + "/usage.db"
        let store = try UsageStore(path: path, options: manualOptions, logger: UsageTestLog().logger)
        defer { store.close() }
        let alice = UsageRecord.label(forKey: "sk-alice-secret")
        store.record(UsageRecord(timeMs: t0, clientKey: alice, dialect: "openai", model: "gpt-5", provider: "codex",
                                 account: "3f9a1c0d2b7e4a55", source: "codex-a@b.com-plus.json", status: 200,
                                 latencyMs: 1830, inputTokens: 523, outputTokens: 308))
        store.record(UsageRecord(timeMs: t0 + 1000, clientKey: alice, dialect: "openai", model: "gpt-5", provider: "codex",
                                 account: "3f9a1c0d2b7e4a55", status: 429, latencyMs: 20))
        store.record(UsageRecord(timeMs: t0 + 9 * hourMs, clientKey: alice, dialect: "claude", model: "claude-sonnet",
                                 provider: "claude", account: "acct-2", status: 200, latencyMs: 900,
                                 inputTokens: 100, outputTokens: 50, reasoningTokens: 10, cachedTokens: 40))
        store.record(UsageRecord(timeMs: t0 + dayMs, clientKey: "team-b", dialect: "gemini", model: "gpt-5",
                                 provider: "codex", account: "3f9a1c0d2b7e4a55", status: 200, latencyMs: 700,
                                 inputTokens: 10, outputTokens: 5, reasoningTokens: 7, totalTokens: 22))

        let snap = try store.snapshot()
        #expect(snap.totalRequests == 4)
        #expect(snap.successCount == 3)
        #expect(snap.failureCount == 1)
        #expect(snap.totalTokens == 831 + 0 + 150 + 22)
        #expect(snap.requestsByDay == ["2026-04-14": 3, "2026-04-15": 1])
        #expect(snap.tokensByDay == ["2026-04-14": 981, "2026-04-15": 22])
        #expect(snap.requestsByHour == ["09": 3, "18": 1])
        #expect(snap.tokensByHour == ["09": 853, "18": 150])

        let a = try #require(snap.apis[alice])
        #expect(a.totalRequests == 3 && a.failureCount == 1 && a.totalTokens == 981)
        let gpt = try #require(a.models["gpt-5"])
        #expect(gpt.totalRequests == 2 && gpt.totalTokens == 831)
        #expect(gpt.details.count == 2)
        // Newest first, fields as in the reference.
        #expect(gpt.details[0].failed)
        #expect(gpt.details[1] == RequestDetail(
            timestamp: "2026-04-14T09:15:04.123Z", latencyMs: 1830, source: "codex-a@b.com-plus.json",
            authIndex: "3f9a1c0d2b7e4a55", failed: false,
            tokens: TokenCounts(inputTokens: 523, outputTokens: 308, reasoningTokens: 0, cachedTokens: 0, totalTokens: 831)))
        #expect(snap.apis["team-b"]?.models["gpt-5"]?.totalTokens == 22)

        #expect(snap.accounts["3f9a1c0d2b7e4a55"] == UsageTally(totalRequests: 3, successCount: 2, failureCount: 1, totalTokens: 853))
        #expect(snap.accounts["acct-2"] == UsageTally(totalRequests: 1, successCount: 1, failureCount: 0, totalTokens: 150))
        #expect(snap.models["gpt-5"] == UsageTally(totalRequests: 3, successCount: 2, failureCount: 1, totalTokens: 853))

        // A window, and the details cap.
        #expect(try store.snapshot(since: t0 + hourMs).totalRequests == 2)
        #expect(try store.snapshot(detailLimit: 1).apis[alice]?.models["gpt-5"]?.details.count == 1)

        // The management API body.
        let json = try jsonText(store.usageResponseJSON())
        #expect(json.contains("\"failed_requests\":1"))
        #expect(json.contains("\"requests_by_hour\":{\"09\":3,\"18\":1}"))
        #expect(json.contains("\"auth_index\":\"3f9a1c0d2b7e4a55\""))
        #expect(json.contains("\"latency_ms\":1830"))
        let decoded = try JSONDecoder().decode(UsageResponse.self, from: Data(try store.usageResponseJSON()))
        #expect(decoded.failedRequests == 1)
        #expect(decoded.usage == snap)
    }

    @Test func keyLabelsAreStableShortAndNotTheKey() {
        let key = "sk-0123456789abcdef-very-secret"
        let label = UsageRecord.label(forKey: key)
        #expect(label == UsageRecord.label(forKey: key))
        #expect(label != UsageRecord.label(forKey: key + "x"))
        #expect(label.hasPrefix("key-") && label.count == 20)
        #expect(!label.contains("secret") && !label.contains("0123456789abcdef"))
        #expect(UsageRecord.label(forKey: "") == "anonymous")
        // SHA-256("abc") starts with ba7816bf8f01cfea.
        #expect(UsageRecord.label(forKey: "abc") == "key-ba7816bf8f01cfea")
    }

    @Test func rowsSurviveCloseAndReopen() throws {
        let path = makeTempDir() + "/usage.db"
        let log = UsageTestLog()
        do {
            let store = try UsageStore(path: path, options: manualOptions, logger: log.logger)
            for i in 0..<5 {
                store.record(UsageRecord(timeMs: t0 + Int64(i), clientKey: "k", model: "m", status: 200,
                                         inputTokens: 1, outputTokens: 1))
            }
            // No flush: close() must write what is waiting.
            store.close()
            store.close()
        }
        let reopened = try UsageStore(path: path, options: manualOptions, logger: log.logger)
        defer { reopened.close() }
        #expect(try reopened.snapshot().totalRequests == 5)
        reopened.record(UsageRecord(timeMs: t0 + 10, clientKey: "k", model: "m", status: 500))
        let snap = try reopened.snapshot()
        #expect(snap.totalRequests == 6)
        #expect(snap.failureCount == 1)
        #expect(snap.totalTokens == 10)
        #expect(reopened.stats.recoveries == 0)
        #expect(!log.all.contains { $0.0 >= .warning })
        // Recorded after close: dropped and counted, never a crash.
        reopened.close()
        reopened.record(UsageRecord(clientKey: "k", model: "m", status: 200))
        #expect(reopened.stats.droppedRecords == 1)
    }

    @Test func manyRecordsAreWrittenInFewTransactions() throws {
        let path = makeTempDir() + "/usage.db"
        let store = try UsageStore(path: path, options: manualOptions, logger: UsageTestLog().logger)
        defer { store.close() }
        for i in 0..<500 {
            store.record(UsageRecord(timeMs: t0 + Int64(i), clientKey: "k", model: "m", status: 200))
        }
        #expect(store.stats.pending == 500)
        #expect(store.stats.transactions == 0)
        try store.flush()
        #expect(store.stats.transactions == 1)
        #expect(store.stats.rowsWritten == 500)
        #expect(store.stats.pending == 0)
        try store.flush()  // nothing waiting: no empty transaction
        #expect(store.stats.transactions == 1)
    }

    @Test func theWriterThreadFlushesFullBatchesAndOnTheInterval() async throws {
        let path = makeTempDir() + "/usage.db"
        // Batches: a full batch wakes the writer long before the interval.
        let store = try UsageStore(path: path, options: UsageStoreOptions(retentionDays: 0, batchSize: 100, flushIntervalMs: 600_000),
                                   logger: UsageTestLog().logger)
        for i in 0..<1000 {
            store.record(UsageRecord(timeMs: t0 + Int64(i), clientKey: "k", model: "m", status: 200))
        }
        // Each wake drains everything waiting (at least a batch), so fewer
        // than a batch may stay behind for the interval.
        var waited = 0
        while store.stats.pending >= 100 && waited < 500 {
            try await Task.sleep(for: .milliseconds(10))
            waited += 1
        }
        let stats = store.stats
        #expect(stats.pending < 100)
        #expect(stats.rowsWritten + stats.pending == 1000)
        #expect(stats.transactions >= 1 && stats.transactions <= 10)
        store.close()
        #expect(store.stats.rowsWritten == 1000)

        // Interval: a few records (below the batch size) are written within about a second.
        let timed = try UsageStore(path: path, options: UsageStoreOptions(retentionDays: 0, batchSize: 1000, flushIntervalMs: 100),
                                   logger: UsageTestLog().logger)
        defer { timed.close() }
        timed.record(UsageRecord(clientKey: "k", model: "m", status: 200))
        waited = 0
        while timed.stats.rowsWritten < 1 && waited < 300 {
            try await Task.sleep(for: .milliseconds(10))
            waited += 1
        }
        #expect(timed.stats.rowsWritten == 1)
        #expect(timed.stats.transactions == 1)
    }

    @Test func aFullBufferDropsTheOldestAndCountsThem() throws {
        let path = makeTempDir() + "/usage.db"
        let store = try UsageStore(path: path,
                                   options: UsageStoreOptions(retentionDays: 0, bufferCapacity: 10, batchSize: 1000, flushIntervalMs: 600_000),
                                   logger: UsageTestLog().logger)
        defer { store.close() }
        for i in 0..<25 {
            store.record(UsageRecord(timeMs: t0 + Int64(i), clientKey: "k", model: "m", status: 200, latencyMs: i))
        }
        #expect(store.stats.droppedRecords == 15)
        #expect(store.stats.pending == 10)
        let snap = try store.snapshot(detailLimit: 100)
        #expect(snap.totalRequests == 10)
        // The newest ten survive.
        #expect(snap.apis["k"]?.models["m"]?.details.map(\.latencyMs) == Array((15..<25).reversed()))
    }

    @Test func retentionPrunesOldRows() throws {
        let path = makeTempDir() + "/usage.db"
        let now = UsageRecord.nowMs()
        do {
            // Kept forever by a store without retention...
            let store = try UsageStore(path: path, options: manualOptions, logger: UsageTestLog().logger)
            store.record(UsageRecord(timeMs: now - 40 * dayMs, clientKey: "k", model: "m", status: 200))
            store.record(UsageRecord(timeMs: now - 10 * dayMs, clientKey: "k", model: "m", status: 200))
            store.record(UsageRecord(timeMs: now - 1 * dayMs, clientKey: "k", model: "m", status: 200))
            store.record(UsageRecord(timeMs: now, clientKey: "k", model: "m", status: 200))
            #expect(try store.prune() == 0)
            #expect(try store.snapshot().totalRequests == 4)
            store.close()
        }
        // ...pruned on open by one with 30 days,
        let month = try UsageStore(path: path, options: UsageStoreOptions(retentionDays: 30, flushIntervalMs: 600_000),
                                   logger: UsageTestLog().logger)
        #expect(try month.snapshot().totalRequests == 3)
        // ...and by prune() as time passes: 25 days on, the row from 10 days ago is past 30 days.
        #expect(try month.prune(now: now + 25 * dayMs) == 1)
        #expect(try month.snapshot().totalRequests == 2)
        month.close()

        // The writer prunes on its own interval.
        let week = try UsageStore(path: path, options: UsageStoreOptions(retentionDays: 7, flushIntervalMs: 20, pruneIntervalMs: 20),
                                  logger: UsageTestLog().logger)
        defer { week.close() }
        week.record(UsageRecord(timeMs: now - 8 * dayMs, clientKey: "k", model: "m", status: 200))
        try week.flush()
        var waited = 0
        while try week.snapshot().totalRequests != 2, waited < 300 {
            usleep(10_000)
            waited += 1
        }
        #expect(try week.snapshot().totalRequests == 2)
    }

    @Test func aFileThatIsNotADatabaseIsMovedAside() throws {
        let dir = makeTempDir()
        let path = dir + "/usage.db"
        let garbage = Array("this is not an SQLite database, it is a config file someone pointed us at\n".utf8)
            + [UInt8](repeating: 0x5a, count: 8192)
        writeFile(path, garbage)
        let log = UsageTestLog()
        let store = try UsageStore(path: path, options: manualOptions, logger: log.logger)
        defer { store.close() }

        let moved = listDir(dir).filter { $0.hasPrefix("usage.db.corrupt-") }
        #expect(moved.count == 1)
        if let name = moved.first { #expect(readFile(dir + "/" + name) == garbage) }
        #expect(log.all.contains { $0.0 == .error && $0.1.contains("moved aside") && $0.1.contains("corrupt-") })
        #expect(store.stats.recoveries == 1)

        store.record(UsageRecord(timeMs: t0, clientKey: "k", model: "m", status: 200, inputTokens: 2, outputTokens: 3))
        #expect(try store.snapshot().totalTokens == 5)
    }

    @Test func aDamagedDatabaseIsMovedAsideAndAFreshOneStarted() throws {
        let dir = makeTempDir()
        let path = dir + "/usage.db"
        do {
            let store = try UsageStore(path: path, options: manualOptions, logger: UsageTestLog().logger)
            for i in 0..<2000 {
                store.record(UsageRecord(timeMs: t0 + Int64(i), clientKey: "key-\(i % 7)", model: "model-\(i % 3)",
                                         source: String(repeating: "s", count: 100), status: 200))
            }
            try store.flush()
            store.close()  // checkpoints the WAL into the main file
        }
        #expect(listDir(dir) == ["usage.db"])
        // Scribble over the pages after the header page: b-tree pages become garbage.
        let size = readFile(path).count
        #expect(size > 16384)
        writeFile(path, [UInt8](repeating: 0xa5, count: size - 4096), at: 4096, truncate: false)

        let log = UsageTestLog()
        let store = try UsageStore(path: path, options: manualOptions, logger: log.logger)
        defer { store.close() }
        #expect(listDir(dir).contains { $0.hasPrefix("usage.db.corrupt-") })
        #expect(log.all.contains { $0.0 == .error && $0.1.contains("moved aside") })
        #expect(try store.snapshot().totalRequests == 0)
        store.record(UsageRecord(clientKey: "k", model: "m", status: 200))
        #expect(try store.snapshot().totalRequests == 1)
    }

    @Test func corruptionFoundWhileWritingMovesTheFileAsideAndKeepsTheBatch() throws {
        let dir = makeTempDir()
        let path = dir + "/usage.db"
        let log = UsageTestLog()
        let store = try UsageStore(path: path, options: manualOptions, logger: log.logger)
        defer { store.close() }
        store.record(UsageRecord(timeMs: t0, clientKey: "k", model: "m", status: 200))
        try store.flush()
        // Another connection points the table at a page that does not exist:
        // the store's next insert then fails with SQLITE_CORRUPT.
        do {
            let c = try SQLiteConnection(path: path)
            let version = try c.scalarInt("PRAGMA schema_version")
            try c.exec("""
                PRAGMA writable_schema = ON;
                UPDATE sqlite_schema SET rootpage = 9999 WHERE name = 'requests';
                PRAGMA schema_version = \(version + 1);
                """)
            c.close()
        }
        store.record(UsageRecord(timeMs: t0 + 1, clientKey: "k", model: "m", status: 200, inputTokens: 7))
        try store.flush()
        #expect(store.stats.recoveries == 1)
        #expect(store.stats.writeFailures == 0)
        #expect(listDir(dir).contains { $0.hasPrefix("usage.db.corrupt-") })
        #expect(log.all.contains { $0.0 == .error && $0.1.contains("moved aside") })
        // The batch that hit the corruption went into the fresh database.
        let snap = try store.snapshot()
        #expect(snap.totalRequests == 1)
        #expect(snap.totalTokens == 7)
    }

    @Test func aDatabaseFromANewerSchemaIsMovedAsideNotOverwritten() throws {
        let dir = makeTempDir()
        let path = dir + "/usage.db"
        do {
            let c = try SQLiteConnection(path: path)
            try c.exec("CREATE TABLE requests (x); PRAGMA user_version = 99;")
            c.close()
        }
        let log = UsageTestLog()
        let store = try UsageStore(path: path, options: manualOptions, logger: log.logger)
        defer { store.close() }
        #expect(listDir(dir).contains { $0.hasPrefix("usage.db.corrupt-") })
        store.record(UsageRecord(clientKey: "k", model: "m", status: 200))
        #expect(try store.snapshot().totalRequests == 1)
    }

    @Test func concurrentRecordsAreAllKept() async throws {
        let path = makeTempDir() + "/usage.db"
        // Small batches and a short interval, so the writer runs while tasks record.
        let store = try UsageStore(path: path, options: UsageStoreOptions(retentionDays: 0, bufferCapacity: 20_000, batchSize: 64, flushIntervalMs: 5),
                                   logger: UsageTestLog().logger)
        defer { store.close() }
        await withTaskGroup(of: Void.self) { group in
            for task in 0..<50 {
                group.addTask {
                    for i in 0..<200 {
                        store.record(UsageRecord(timeMs: t0 + Int64(i), clientKey: "task-\(task % 5)", model: "m",
                                                 status: i % 10 == 0 ? 500 : 200, inputTokens: 1, outputTokens: 1))
                        if i % 50 == 0 { await Task.yield() }
                    }
                }
            }
        }
        let snap = try store.snapshot(detailLimit: 0)
        #expect(snap.totalRequests == 10_000)
        #expect(snap.failureCount == 1_000)
        #expect(snap.totalTokens == 20_000)
        #expect(snap.apis.count == 5)
        #expect(snap.apis.values.allSatisfy { $0.totalRequests == 2_000 })
        let stats = store.stats
        #expect(stats.droppedRecords == 0)
        #expect(stats.rowsWritten == 10_000)
        #expect(stats.writeFailures == 0)
    }
}

/// The JSON body as text, for checking key names and shapes.
func jsonText(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }
