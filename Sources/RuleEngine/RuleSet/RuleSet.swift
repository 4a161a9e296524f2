import Synchronization

/// An immutable, compiled rule set: the dialects found in a `Rules/` folder,
/// compiled on every thread of a pool of rule threads.
///
/// A rule set is built off to the side (`build`) and swapped in whole
/// (`RuleSetStore`); requests in flight keep using the set they started
/// with. A reload builds its set on the running set's threads and compiles
/// only the dialects whose files changed: the others' programs are shared
/// through each thread's `ProgramCache`, and freed when no set uses them.
public final class RuleSet: Sendable {
    public let source: RuleSource
    let pool: RuleThreadPool
    let keys: ProgramKeys
    /// Wall-clock milliseconds the build took (the threads compile in parallel).
    public let buildMilliseconds: Double
    /// Dialects this build compiled (the others were reused from the set it was built beside).
    public let compiledDialects: [String]
    private let nextWorker = Atomic<Int>(0)

    public var dialects: [String] { source.dialects }
    public var workerCount: Int { pool.threads.count }

    private init(source: RuleSource, pool: RuleThreadPool, keys: ProgramKeys, compiled: [String], buildMilliseconds: Double) {
        self.source = source
        self.pool = pool
        self.keys = keys
        self.compiledDialects = compiled
        self.buildMilliseconds = buildMilliseconds
    }

    /// Each thread lets go of this set's programs (after the jobs queued before).
    deinit {
        let keys = self.keys.byDialect.values
        for t in pool.threads { t.submit { cache in for k in keys { cache.release(k) } } }
    }

    /// Reads and compiles `root` on `threads` rule threads (default: one per
    /// core), or on the threads of `beside` (a reload), reusing its programs
    /// for every dialect whose files did not change. Each dialect to compile
    /// is compiled once, spread over the threads, before this returns — so a
    /// broken rule fails the build and nothing changes; every thread then
    /// compiles the rest before any job of the new set can reach it.
    public static func build(root: String, threads: Int? = nil, beside: RuleSet? = nil) async throws(RuleCompileError) -> RuleSet {
        let start = Clock.nanoseconds()
        let source = try RuleSource.load(root: root)
        let keys = ProgramKeys(source: source)
        let pool: RuleThreadPool
        if let running = beside?.pool { pool = running } else { pool = try RuleThreadPool(count: threads ?? Clock.processorCount()) }
        let all = source.dialects
        let reused = Set(all.filter { beside?.keys.byDialect[$0] == keys.byDialect[$0] })
        let toCompile = all.filter { !reused.contains($0) }
        let count = pool.threads.count

        // First pass, awaited: each thread compiles its share of the new programs (and retains them);
        // a thread that fails lets go of what it had retained.
        func share(_ i: Int) -> [String] { toCompile.enumerated().filter { $0.offset % count == i }.map(\.element) }
        let outcomes: [(Int, RuleCompileError?)] = await withTaskGroup(of: (Int, RuleCompileError?).self) { group in
            for (i, t) in pool.threads.enumerated() {
                let mine = share(i)
                group.addTask {
                    let error: RuleCompileError?
                    do { error = try await t.perform { cache -> RuleCompileError? in
                        var retained: [String] = []
                        for d in mine {
                            do throws(RuleCompileError) { try cache.retain(d, of: keys) } catch {
                                for r in retained { cache.release(keys.byDialect[r]!) }
                                return error
                            }
                            retained.append(d)
                        }
                        return nil
                    } } catch let e { error = RuleCompileError(["a rule thread failed: \(e)"]) }
                    return (i, error)
                }
            }
            var out: [(Int, RuleCompileError?)] = []
            for await r in group { out.append(r) }
            return out.sorted { $0.0 < $1.0 }
        }
        if let failure = outcomes.compactMap(\.1).first {
            // Undo the shares that did compile.
            for (i, error) in outcomes where error == nil {
                let mine = share(i)
                pool.threads[i].submit { cache in for d in mine { cache.release(keys.byDialect[d]!) } }
            }
            throw failure
        }
        // Second pass, queued before the set is returned (so before any of its jobs): every thread
        // retains every other program of the set, compiling what it does not hold yet.
        for (i, t) in pool.threads.enumerated() {
            let mine = Set(share(i))
            let rest = all.filter { !mine.contains($0) }
            t.submit { cache in for d in rest { try? cache.retain(d, of: keys) } }
        }
        return RuleSet(source: source, pool: pool, keys: keys, compiled: toCompile,
                       buildMilliseconds: Double(Clock.nanoseconds() - start) / 1e6)
    }

    /// Returns once every thread has compiled every dialect (jobs run in
    /// order, so an empty job on each thread waits for its compiles).
    public func waitUntilWarm() async {
        for t in pool.threads { _ = try? await t.perform { _ in true } }
    }

    /// The least busy thread (ties broken round-robin), as this set's worker.
    func pickWorker() -> RuleWorker {
        let threads = pool.threads
        let start = nextWorker.add(1, ordering: .relaxed).newValue
        var best = threads[start % threads.count]
        var bestLoad = best.pending.load(ordering: .relaxed)
        if bestLoad > 0 {
            for k in 1..<threads.count {
                let t = threads[(start + k) % threads.count]
                let l = t.pending.load(ordering: .relaxed)
                if l < bestLoad { best = t; bestLoad = l }
            }
        }
        return RuleWorker(thread: best, keys: keys)
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
        do { fresh = try await RuleSet.build(root: root, threads: threads, beside: ruleSet) } catch { return error }
        if let accept, let why = await accept(fresh) { return RuleCompileError([why]) }
        current.withLock { $0 = fresh }
        return nil
    }
}
