import Synchronization

/// An immutable, compiled rule set: the dialects found in a `Rules/` folder
/// and a pool of worker threads, each holding its own compiled copy of every
/// dialect's program.
///
/// A rule set is built off to the side (`build`) and swapped in whole
/// (`RuleSetStore`); requests in flight keep using the set they started with,
/// whose threads stop when the last of them lets go.
public final class RuleSet: Sendable {
    public let source: RuleSource
    let workers: [RuleWorker]
    /// Wall-clock milliseconds the build took (all workers compile in parallel).
    public let buildMilliseconds: Double
    private let nextWorker = Atomic<Int>(0)

    public var dialects: [String] { source.dialects }
    public var workerCount: Int { workers.count }

    private init(source: RuleSource, workers: [RuleWorker], buildMilliseconds: Double) {
        self.source = source
        self.workers = workers
        self.buildMilliseconds = buildMilliseconds
    }

    deinit { for w in workers { w.stop() } }

    /// Reads and compiles `root` on `threads` worker threads (default: one per
    /// core). Every dialect is compiled once, the dialects spread over the
    /// threads, before this returns — so a broken rule fails the build. Each
    /// thread then compiles the dialects it has not got yet, ahead of any job.
    public static func build(root: String, threads: Int? = nil) async throws(RuleCompileError) -> RuleSet {
        let start = Clock.nanoseconds()
        let source = try RuleSource.load(root: root)
        let count = max(1, threads ?? Clock.processorCount())
        let dialects = source.dialects
        let results: [(RuleWorker, RuleCompileError?)] = await withTaskGroup(of: (Int, RuleWorker, RuleCompileError?).self) { group in
            for i in 0..<count {
                let first = dialects.enumerated().filter { $0.offset % count == i }.map(\.element)
                let rest = (0..<dialects.count).map { dialects[($0 + i) % dialects.count] }.filter { !first.contains($0) }
                group.addTask {
                    let (w, e) = await RuleWorker.start(index: i, source: source, first: first, rest: rest)
                    return (i, w, e)
                }
            }
            var all: [(Int, RuleWorker, RuleCompileError?)] = []
            for await r in group { all.append(r) }
            return all.sorted { $0.0 < $1.0 }.map { ($0.1, $0.2) }
        }
        let workers = results.map(\.0)
        if let failure = results.compactMap(\.1).first {
            for w in workers { w.stop() }
            throw failure
        }
        return RuleSet(source: source, workers: workers, buildMilliseconds: Double(Clock.nanoseconds() - start) / 1e6)
    }

    /// Returns once every worker has compiled every dialect (jobs run in
    /// order, so an empty job on each worker waits for its compiles).
    public func waitUntilWarm() async {
        for w in workers { _ = try? await w.perform { _ in true } }
    }

    /// The least busy worker (ties broken round-robin).
    func pickWorker() -> RuleWorker {
        let start = nextWorker.add(1, ordering: .relaxed).newValue
        var best = workers[start % workers.count]
        var bestLoad = best.pending.load(ordering: .relaxed)
        if bestLoad == 0 { return best }
        for k in 1..<workers.count {
            let w = workers[(start + k) % workers.count]
            let l = w.pending.load(ordering: .relaxed)
            if l < bestLoad { best = w; bestLoad = l }
        }
        return best
    }

    public func hasDialect(_ name: String) -> Bool { source.dialects.contains(name) }
}

/// Holds the current rule set and swaps it atomically on reload. A rebuild
/// that fails leaves the current set in place and reports why.
public final class RuleSetStore: Sendable {
    private let current: Mutex<RuleSet>
    public let root: String

    public init(_ initial: RuleSet) {
        current = Mutex(initial)
        root = initial.source.root
    }

    public var ruleSet: RuleSet { current.withLock { $0 } }

    /// Rebuilds from disk; `accept` may veto the new set (e.g. when its
    /// fixtures fail). Returns the error that kept the old set, if any.
    @discardableResult
    public func reload(threads: Int? = nil, accept: (@Sendable (RuleSet) async -> String?)? = nil) async -> Error? {
        let fresh: RuleSet
        do { fresh = try await RuleSet.build(root: root, threads: threads) } catch { return error }
        if let accept, let why = await accept(fresh) { return RuleCompileError([why]) }
        current.withLock { $0 = fresh }
        return nil
    }
}
