import Synchronization

/// An immutable, compiled rule set: the dialects found in a `Rules/` folder,
/// compiled on every thread of a pool of rule threads.
///
/// A rule set is built off to the side (`build`) and swapped in whole
/// (`RuleSetStore`); requests in flight keep using the set they started
/// with. A reload builds its set on the running set's threads and compiles
/// only the programs whose files changed: the others are shared
/// through each thread's `ProgramCache`, and freed when no set uses them.
public final class RuleSet: Sendable {
    public let source: RuleSource
    let pool: RuleThreadPool
    let keys: ProgramKeys
    /// Wall-clock milliseconds the build took (the threads compile in parallel).
    public let buildMilliseconds: Double
    /// Programs this build compiled, by name (`claude/response+error+stream`);
    /// the others were reused from the set it was built beside.
    public let compiledPrograms: [String]
    private let nextWorker = Atomic<Int>(0)

    public var dialects: [String] { source.dialects }
    public var workerCount: Int { pool.threads.count }

    private init(source: RuleSource, pool: RuleThreadPool, keys: ProgramKeys, compiled: [String], buildMilliseconds: Double) {
        self.source = source
        self.pool = pool
        self.keys = keys
        self.compiledPrograms = compiled
        self.buildMilliseconds = buildMilliseconds
    }

    /// Each thread lets go of this set's programs (after the jobs queued before).
    deinit {
        let keys = self.keys.all
        for t in pool.threads { t.submit { cache in for k in keys { cache.release(k) } } }
    }

    /// Reads and compiles `root` for `threads` rule threads (default: one per
    /// core), or for the threads of `beside` (a reload), reusing its programs
    /// for every program whose files did not change. The new programs are
    /// compiled on short-lived compile threads, one per rule thread, so the
    /// rule threads keep serving meanwhile; a broken rule fails the build and
    /// nothing changes. Each rule thread then installs its copies in a job
    /// queued before any job of the new set can reach it.
    public static func build(root: String, threads: Int? = nil, beside: RuleSet? = nil) async throws(RuleCompileError) -> RuleSet {
        let start = Clock.nanoseconds()
        let source = try RuleSource.load(root: root)
        let keys = ProgramKeys(source: source)
        let pool: RuleThreadPool
        if let running = beside?.pool { pool = running } else { pool = try RuleThreadPool(count: threads ?? Clock.processorCount()) }
        let all = keys.all
        let toCompile = all.filter { beside?.keys.units[$0] == nil }

        // Every rule thread needs its own copy of each new program (a jq_state serves one thread).
        let outcomes: [(Int, Result<CompiledPrograms, RuleCompileError>)] = await withTaskGroup(
            of: (Int, Result<CompiledPrograms, RuleCompileError>).self) { group in
            for i in pool.threads.indices {
                group.addTask {
                    guard !toCompile.isEmpty else { return (i, .success(CompiledPrograms([:]))) }
                    guard let compiler = RuleThread(index: -1, raisePriority: beside != nil) else { return (i, .failure(RuleCompileError(["cannot start a rule compile thread"]))) }
                    defer { compiler.stop() }
                    do {
                        return (i, try await compiler.perform { _ -> Result<CompiledPrograms, RuleCompileError> in
                            var done: [String: JQProgram] = [:]
                            for k in toCompile {
                                do throws(RuleCompileError) { done[k] = try ProgramCache.compile(k, of: keys) } catch { return .failure(error) }
                            }
                            return .success(CompiledPrograms(done))
                        })
                    } catch {
                        return (i, .failure(RuleCompileError(["a rule compile thread failed: \(error)"])))
                    }
                }
            }
            var out: [(Int, Result<CompiledPrograms, RuleCompileError>)] = []
            for await r in group { out.append(r) }
            return out.sorted { $0.0 < $1.0 }
        }
        var handed: [CompiledPrograms] = []
        for (_, r) in outcomes {
            switch r {
            case .success(let c): handed.append(c)
            case .failure(let e): throw e
            }
        }
        for (t, programs) in zip(pool.threads, handed) {
            t.submit { cache in for k in all { cache.install(k, programs.take(k)) } }
        }
        return RuleSet(source: source, pool: pool, keys: keys, compiled: toCompile.compactMap { keys.units[$0]?.name },
                       buildMilliseconds: Double(Clock.nanoseconds() - start) / 1e6)
    }

    /// Whether reloads compile at raised priority (`RuleThread.compileNice`):
    /// false when the process may not lower a nice value, nil before any reload.
    public static var compilePriorityRaised: Bool? { RuleThread.compilePriorityRaised }

    /// Returns once every thread has installed every program (jobs run in
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

    /// Compiles each program of the set once more, alone, on the calling
    /// thread, and returns its name and wall-clock milliseconds (for
    /// `cliproxy rules check --timings`; the copies are freed at once).
    public func compileTimes() -> [(name: String, milliseconds: Double)] {
        keys.all.map { key in
            let start = Clock.nanoseconds()
            _ = try? ProgramCache.compile(key, of: keys)
            return (keys.units[key]!.name, Double(Clock.nanoseconds() - start) / 1e6)
        }
    }
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
