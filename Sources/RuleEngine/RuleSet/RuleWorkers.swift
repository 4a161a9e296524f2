#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization
import CJQ

/// The compiled programs one rule thread holds, by program key (see
/// `ProgramKeys`), each with the number of rule sets using it. A reload that
/// leaves a dialect's files alone finds its program here and compiles
/// nothing for it; a program goes when the last set using it does.
/// Thread-owned: only jobs running on that thread touch it.
final class ProgramCache {
    private var entries: [String: (program: JQProgram, sets: Int)] = [:]

    func has(_ key: String) -> Bool { entries[key] != nil }
    func program(_ key: String) -> JQProgram? { entries[key]?.program }
    var count: Int { entries.count }

    /// One more set uses `key`: compiled from `keys` when not here yet.
    func retain(_ key: String, of keys: ProgramKeys) throws(RuleCompileError) {
        if entries[key] != nil { entries[key]!.sets += 1; return }
        entries[key] = (try Self.compile(key, of: keys), 1)
    }

    /// One more set uses `key`, whose program was compiled on another thread
    /// and handed over (`program`, dropped when this thread already has one).
    func install(_ key: String, _ program: JQProgram?) {
        if entries[key] != nil { entries[key]!.sets += 1 } else if let program { entries[key] = (program, 1) }
    }

    /// Compiles the program `key` of `keys.source`; errors name the original files.
    static func compile(_ key: String, of keys: ProgramKeys) throws(RuleCompileError) -> JQProgram {
        let source = keys.source
        guard let unit = keys.units[key] else { throw RuleCompileError(["no program \(key) in this rule set"]) }
        do {
            return try JQProgram(source: unit.text, libraryPaths: [source.snapshot.path])
        } catch {
            throw RuleCompileError(error.messages.map { source.snapshot.restore($0, root: source.root) })
        }
    }

    /// A set using `key` is gone.
    func release(_ key: String) {
        guard let e = entries[key] else { return }
        if e.sets <= 1 { entries[key] = nil } else { entries[key]!.sets = e.sets - 1 }
    }
}

/// A rule set's programs by key, and which program answers each operation
/// of each dialect. A key is a digest of the program's text and of every
/// rule file it imports (directly or not): equal keys mean equal compiled
/// programs, so a reload reuses them, and equal programs of two dialects
/// (the token estimate) are compiled once.
final class ProgramKeys: Sendable {
    let source: RuleSource
    /// key → program.
    let units: [String: ProgramUnit]
    /// dialect → operation → key.
    let byOperation: [String: [String: String]]

    init(source: RuleSource) {
        self.source = source
        var units: [String: ProgramUnit] = [:]
        var byOperation: [String: [String: String]] = [:]
        for d in source.dialects {
            var ops: [String: String] = [:]
            for unit in source.programs(for: d) {
                var h = FNV64()
                h.add(unit.text)
                for path in unit.files { h.add(path); h.add(source.files[path] ?? source.providerFiles[path] ?? "") }
                let key = unit.name + ":" + h.hex
                units[key] = unit
                for op in unit.operations { ops[op] = key }
            }
            byOperation[d] = ops
        }
        self.units = units
        self.byOperation = byOperation
    }

    /// Every key, in a stable order.
    var all: [String] { units.keys.sorted() }
}

/// FNV-1a, 64 bits: a content digest for cache keys (not a security boundary;
/// the inputs are the operator's own rule files).
struct FNV64 {
    private var h: UInt64 = 0xcbf29ce484222325
    mutating func add(_ s: String) {
        for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x100000001b3 }
        h = (h ^ 0xff) &* 0x100000001b3  // a separator, so ("ab","c") ≠ ("a","bc")
    }
    var hex: String { String(h, radix: 16) }
}

/// Programs compiled on a short-lived compile thread for one rule thread,
/// handed over whole: the compile thread lets go of them before the rule
/// thread's install job takes them (the job queue's lock orders the two), so
/// no `jq_state` or `jv` is ever touched by two threads at once.
final class CompiledPrograms: @unchecked Sendable {
    private var byKey: [String: JQProgram] = [:]
    init(_ programs: [String: JQProgram]) { byKey = programs }
    func take(_ key: String) -> JQProgram? { byKey.removeValue(forKey: key) }
}

/// What a job sees: the programs of the thread it runs on, looked up through
/// the keys of the rule set it belongs to.
struct Programs {
    let cache: ProgramCache
    let keys: ProgramKeys

    /// Runs operation `op` (`decode_request`, `patch_event:codex`, …) of
    /// `dialect` on `body` in the envelope `{op, ctx, body}` (input consumed);
    /// one output (owned).
    func run(_ dialect: String, _ op: String, owned input: jv) throws -> jv {
        guard let ops = keys.byOperation[dialect] else {
            jv_free(input)
            throw RuleRuntimeError(rule: "runtime", message: "unknown dialect \(dialect)")
        }
        guard let key = ops[op] else {
            jv_free(input)
            throw RuleRuntimeError(rule: "dispatcher", message: "unknown operation \(op)")
        }
        // Every thread retains every program of a set before that set's first job (`RuleSet.build`),
        // so a miss means that compile failed on this thread alone.
        guard let p = cache.program(key) else {
            jv_free(input)
            throw RuleRuntimeError(rule: "runtime", message: "the rules of \(dialect) are not compiled on this worker")
        }
        return try p.run(owned: input)
    }
}

/// A rule set's handle on one rule thread: jobs submitted through it see the
/// set's programs. `Exchange` pins itself to one.
struct RuleWorker: Sendable {
    let thread: RuleThread
    let keys: ProgramKeys

    func submit(_ job: @escaping (Programs) -> Void) {
        let keys = keys
        thread.submit { cache in job(Programs(cache: cache, keys: keys)) }
    }

    /// Runs `body` on the thread and returns its (Sendable) result.
    func perform<T: Sendable>(_ body: @escaping @Sendable (Programs) throws -> T) async throws -> T {
        let keys = keys
        return try await thread.perform { cache in try body(Programs(cache: cache, keys: keys)) }
    }
}

/// Dedicated threads, each owning a `ProgramCache`, shared by the rule sets
/// built on them (a reload builds its set on the running set's threads).
/// Stopped when the last set using them is gone.
final class RuleThreadPool: Sendable {
    let threads: [RuleThread]

    init(count: Int) throws(RuleCompileError) {
        var started: [RuleThread] = []
        for i in 0..<max(1, count) {
            guard let t = RuleThread(index: i) else {
                for s in started { s.stop() }
                throw RuleCompileError(["cannot start a rule worker thread"])
            }
            started.append(t)
        }
        threads = started
    }

    deinit { for t in threads { t.stop() } }
}

/// One plain thread with a FIFO of jobs and its `ProgramCache`.
///
/// A translation of a large request takes milliseconds of CPU: it must not
/// block Swift's cooperative pool (two threads on a two-core machine). And a
/// `jq_state`, with every `jv` it produced, must stay on one thread. So each
/// rule thread owns its compiled programs, and a caller that needs several
/// steps on the same values (a stream's fold state, a parsed request) pins
/// itself to one thread (see `Exchange`).
final class RuleThread: @unchecked Sendable {
    typealias Job = (ProgramCache) -> Void

    // The lock and condition live at fixed heap addresses (a Swift stored
    // property passed `&` to pthreads has no such guarantee).
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    /// Slots are set to nil as jobs are taken, so a finished job's closure —
    /// which may hold the last reference to an `Exchange`, whose `deinit`
    /// submits here — is released outside the lock, never under it.
    private var queue: [Job?] = []
    private var head = 0
    private var stopping = false
    /// Jobs submitted and not yet finished, for picking the least busy thread.
    let pending = Atomic<Int>(0)
    let index: Int
    /// A compile thread for a reload: asks for `compileNice` first.
    let raisePriority: Bool

    /// Starts the thread; nil when the system refuses one.
    init?(index: Int, raisePriority: Bool = false) {
        self.index = index
        self.raisePriority = raisePriority
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(cond, nil)
        var attr = pthread_attr_t()
        pthread_attr_init(&attr)
        pthread_attr_setstacksize(&attr, 8 << 20)
        var tid = pthread_t()
        let rc = pthread_create(&tid, &attr, { raw in
            let me = Unmanaged<RuleThread>.fromOpaque(raw!).takeRetainedValue()
            me.threadMain()
            return nil
        }, Unmanaged.passRetained(self).toOpaque())
        pthread_attr_destroy(&attr)
        if rc != 0 {
            Unmanaged.passUnretained(self).release()
            return nil
        }
        pthread_detach(tid)
    }

    deinit {
        pthread_cond_destroy(cond)
        pthread_mutex_destroy(mutex)
        cond.deallocate()
        mutex.deallocate()
    }

    private func threadMain() {
        // Named for `ps -L`, core dumps and the kernel's segfault lines (a thread
        // inherits its creator's name, a Swift pool thread's "…default-qos").
        // (pthread_setname_np is not in Swift's Glibc; the comm file is the same thing.)
        if let f = fopen("/proc/thread-self/comm", "w") {
            fputs(index < 0 ? "jq-compile" : "jq-rules-\(index)", f)  // at most 15 bytes
            fclose(f)
        }
        if raisePriority { Self.raiseCompilePriority() }
        let cache = ProgramCache()
        // Oniguruma initialises itself lazily and without a lock on its first
        // regex: warm it up once per process, before any rule runs.
        _ = RuleThread.warmUpRegex
        while let job = next() {
            job(cache)
            pending.subtract(1, ordering: .relaxed)
        }  // `job` is released here, outside the lock
    }

    /// The nice value a reload's compile thread asks for.
    ///
    /// A reload compiles its changed programs beside the serving threads; with
    /// the CPU saturated by traffic, a compile of 130 ms of CPU took 700 ms to
    /// 1.2 s of wall time at equal priority, and new versions went live 1–2 s
    /// after their save (docs/RELIABILITY.md, "Reload under load"). At nice
    /// -10 the compile gets most of a core for its few hundred milliseconds:
    /// versions live in 0.4–0.7 s under the same load. Lowering a nice value
    /// needs CAP_SYS_NICE or an RLIMIT_NICE allowance (`ulimit -e`, systemd
    /// `LimitNICE=`); without either the compile runs at normal priority.
    /// A first build (start-up, `rules test`) keeps the normal priority: it
    /// races no traffic, and the test suites' hundreds of builds at nice -10
    /// starved everything else in their process (suites 3-6× slower).
    /// (The priority is not undone: the thread ends after its compile.)
    static let compileNice: Int32 = -10
    /// Whether the last reload's compile thread got `compileNice` (nil before any reload).
    private static let compilePriority = Mutex<Bool?>(nil)
    /// Whether reload compiles run at raised priority (nil before the first reload).
    static var compilePriorityRaised: Bool? { compilePriority.withLock { $0 } }

    private static func raiseCompilePriority() {
        // On Linux the nice value is per thread; `who` 0 is the calling thread.
        let ok = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, compileNice) == 0
        compilePriority.withLock { $0 = ok }
    }

    /// One regex on one thread at a time, once per process (see `threadMain`).
    private static let warmUpRegex: Bool = {
        if let p = try? JQProgram(source: "\"a\" | test(\"a\")", libraryPaths: []) {
            if let v = try? p.run(owned: jv_null()) { jv_free(v) }
        }
        return true
    }()

    private func next() -> Job? {
        pthread_mutex_lock(mutex)
        while head == queue.count && !stopping { pthread_cond_wait(cond, mutex) }
        var job: Job? = nil
        if head < queue.count {
            swap(&job, &queue[head])
            head += 1
            if head == queue.count { queue.removeAll(keepingCapacity: true); head = 0 }
            else if head > 1024 && head * 2 > queue.count { queue.removeFirst(head); head = 0 }  // only nil slots
        }
        pthread_mutex_unlock(mutex)
        return job
    }

    func submit(_ job: @escaping Job) {
        pending.add(1, ordering: .relaxed)
        pthread_mutex_lock(mutex)
        queue.append(job)
        pthread_cond_signal(cond)
        pthread_mutex_unlock(mutex)
    }

    /// Runs `body` on this thread and returns its (Sendable) result.
    func perform<T: Sendable>(_ body: @escaping @Sendable (ProgramCache) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { cont in
            submit { cache in cont.resume(with: Result { try body(cache) }) }
        }
    }

    /// Lets the thread finish the queued jobs, then exit (dropping its programs).
    func stop() {
        pthread_mutex_lock(mutex)
        stopping = true
        pthread_cond_signal(cond)
        pthread_mutex_unlock(mutex)
    }
}
