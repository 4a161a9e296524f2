#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization
import CJQ

/// The compiled dialect programs of one worker thread, by dialect name.
/// Thread-owned: only jobs running on that worker touch it.
final class Programs {
    private var byDialect: [String: JQProgram] = [:]
    private let source: RuleSource

    init(source: RuleSource) { self.source = source }

    func has(_ dialect: String) -> Bool { byDialect[dialect] != nil }

    func compile(_ dialect: String) throws(RuleCompileError) {
        if byDialect[dialect] != nil { return }
        do {
            byDialect[dialect] = try JQProgram(source: source.program(for: dialect), libraryPaths: [source.snapshot.path])
        } catch {
            throw RuleCompileError(error.messages.map { source.snapshot.restore($0, root: source.root) })
        }
    }

    /// The program of `dialect`, compiled now if this worker has not yet.
    func program(_ dialect: String) throws -> JQProgram {
        if let p = byDialect[dialect] { return p }
        guard source.dialects.contains(dialect) else { throw RuleRuntimeError(rule: "runtime", message: "unknown dialect \(dialect)") }
        try compile(dialect)
        return byDialect[dialect]!
    }

    /// Runs `op` of `dialect` on an input envelope (consumed); one output (owned).
    func run(_ dialect: String, owned input: jv) throws -> jv {
        let p: JQProgram
        do { p = try program(dialect) } catch { jv_free(input); throw error }
        return try p.run(owned: input)
    }
}

/// Dedicated threads, each owning one compiled copy of the dialect programs.
///
/// A translation of a large request takes milliseconds of CPU: it must not
/// block Swift's cooperative pool (two threads on a two-core machine). And a
/// `jq_state`, with every `jv` it produced, must stay on one thread. So each
/// worker is a plain thread with its own `Programs` and a FIFO of jobs; a
/// caller that needs several steps on the same values (a stream's fold state,
/// a parsed request) pins itself to one worker (see `Exchange`).
final class RuleWorker: @unchecked Sendable {
    typealias Job = (Programs) -> Void

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
    /// Jobs submitted and not yet finished, for picking the least busy worker.
    let pending = Atomic<Int>(0)
    let index: Int

    private init(index: Int) {
        self.index = index
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(cond, nil)
    }

    deinit {
        pthread_cond_destroy(cond)
        pthread_mutex_destroy(mutex)
        cond.deallocate()
        mutex.deallocate()
    }

    /// Starts a worker thread. It compiles `first` (reporting the outcome
    /// through the returned value), then `rest`, then serves jobs; jobs
    /// submitted meanwhile wait in order behind the compiles.
    static func start(index: Int, source: RuleSource, first: [String], rest: [String]) async -> (RuleWorker, RuleCompileError?) {
        let worker = RuleWorker(index: index)
        let error: RuleCompileError? = await withCheckedContinuation { cont in
            let box = StartBox(worker: worker, source: source, first: first, rest: rest) { cont.resume(returning: $0) }
            var attr = pthread_attr_t()
            pthread_attr_init(&attr)
            pthread_attr_setstacksize(&attr, 8 << 20)
            var tid = pthread_t()
            let rc = pthread_create(&tid, &attr, { raw in
                let box = Unmanaged<StartBox>.fromOpaque(raw!).takeRetainedValue()
                box.worker.threadMain(box)
                return nil
            }, Unmanaged.passRetained(box).toOpaque())
            pthread_attr_destroy(&attr)
            if rc != 0 { cont.resume(returning: RuleCompileError(["cannot start a rule worker thread (error \(rc))"])) }
            else { pthread_detach(tid) }
        }
        return (worker, error)
    }

    private final class StartBox {
        let worker: RuleWorker, source: RuleSource, first: [String], rest: [String]
        let done: (RuleCompileError?) -> Void
        init(worker: RuleWorker, source: RuleSource, first: [String], rest: [String], done: @escaping (RuleCompileError?) -> Void) {
            self.worker = worker; self.source = source; self.first = first; self.rest = rest; self.done = done
        }
    }

    private func threadMain(_ box: StartBox) {
        let programs = Programs(source: box.source)
        // Oniguruma initialises itself lazily and without a lock on its first
        // regex: warm it up once per process, before any rule runs.
        _ = RuleWorker.warmUpRegex
        var failure: RuleCompileError? = nil
        for d in box.first {
            do throws(RuleCompileError) { try programs.compile(d) } catch { failure = failure ?? error }
        }
        box.done(failure)
        if failure != nil { return }
        for d in box.rest where !isStopping { try? programs.compile(d) }
        while let job = next() {
            job(programs)
            pending.subtract(1, ordering: .relaxed)
        }  // `job` is released here, outside the lock
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

    /// Runs `body` on this worker's thread and returns its (Sendable) result.
    func perform<T: Sendable>(_ body: @escaping @Sendable (Programs) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { cont in
            submit { programs in cont.resume(with: Result { try body(programs) }) }
        }
    }

    private var isStopping: Bool {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return stopping
    }

    /// Lets the thread finish the queued jobs, then exit (dropping its programs).
    func stop() {
        pthread_mutex_lock(mutex)
        stopping = true
        pthread_cond_signal(cond)
        pthread_mutex_unlock(mutex)
    }
}
