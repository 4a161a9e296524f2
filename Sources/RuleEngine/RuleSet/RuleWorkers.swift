#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization
import CJQ

/// Dedicated threads, each owning one compiled copy of the rule program.
///
/// A translation of a large request takes milliseconds of CPU: it must not
/// block Swift's cooperative pool (two threads on a two-core machine). And a
/// `jq_state`, with every `jv` it produced, must stay on one thread. So each
/// worker is a plain thread with its own `JQProgram` and a FIFO of jobs; a
/// caller that needs several steps on the same values (a stream's fold state,
/// a parsed request) pins itself to one worker (see `Exchange`).
final class RuleWorker: @unchecked Sendable {
    typealias Job = (JQProgram) -> Void

    private var mutex = pthread_mutex_t()
    private var cond = pthread_cond_t()
    private var queue: [Job] = []
    private var head = 0
    private var stopping = false
    /// Jobs submitted and not yet finished, for picking the least busy worker.
    let pending = Atomic<Int>(0)
    let index: Int

    private init(index: Int) {
        self.index = index
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&cond, nil)
    }

    deinit {
        pthread_cond_destroy(&cond)
        pthread_mutex_destroy(&mutex)
    }

    /// Starts a worker thread that compiles `source` first. Returns once the
    /// compile finished, with the worker or the compile error.
    static func start(index: Int, source: String, libraryPaths: [String]) async throws(RuleCompileError) -> RuleWorker {
        let worker = RuleWorker(index: index)
        let result: Result<Void, RuleCompileError> = await withCheckedContinuation { cont in
            let box = StartBox(worker: worker, source: source, paths: libraryPaths) { cont.resume(returning: $0) }
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
            if rc != 0 { cont.resume(returning: .failure(RuleCompileError(["cannot start a rule worker thread (error \(rc))"]))) }
            else { pthread_detach(tid) }
        }
        try result.get()
        return worker
    }

    private final class StartBox {
        let worker: RuleWorker, source: String, paths: [String]
        let done: (Result<Void, RuleCompileError>) -> Void
        init(worker: RuleWorker, source: String, paths: [String], done: @escaping (Result<Void, RuleCompileError>) -> Void) {
            self.worker = worker; self.source = source; self.paths = paths; self.done = done
        }
    }

    private func threadMain(_ box: StartBox) {
        let program: JQProgram
        do throws(RuleCompileError) {
            program = try JQProgram(source: box.source, libraryPaths: box.paths)
            // Oniguruma initialises itself lazily and without a lock on its first
            // regex: warm it up here, under the compile, before any job runs.
            _ = RuleWorker.warmUpRegex
        } catch {
            box.done(.failure(error))
            return
        }
        box.done(.success(()))
        while let job = next() {
            job(program)
            pending.subtract(1, ordering: .relaxed)
        }
    }

    /// One regex on one thread at a time, once per process (see `threadMain`).
    private static let warmUpRegex: Bool = {
        if let p = try? JQProgram(source: "\"a\" | test(\"a\")", libraryPaths: []) {
            let v = try? p.run(owned: jv_null())
            if let v { jv_free(v) }
        }
        return true
    }()

    private func next() -> Job? {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        while head == queue.count && !stopping { pthread_cond_wait(&cond, &mutex) }
        if head == queue.count { return nil }
        let job = queue[head]
        head += 1
        if head > 1024 && head * 2 > queue.count { queue.removeFirst(head); head = 0 }
        return job
    }

    func submit(_ job: @escaping Job) {
        pending.add(1, ordering: .relaxed)
        pthread_mutex_lock(&mutex)
        queue.append(job)
        pthread_cond_signal(&cond)
        pthread_mutex_unlock(&mutex)
    }

    /// Runs `body` on this worker's thread and returns its (Sendable) result.
    func perform<T: Sendable>(_ body: @escaping @Sendable (JQProgram) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { cont in
            submit { program in cont.resume(with: Result { try body(program) }) }
        }
    }

    /// Lets the thread finish the queued jobs, then exit (dropping its program).
    func stop() {
        pthread_mutex_lock(&mutex)
        stopping = true
        pthread_cond_signal(&cond)
        pthread_mutex_unlock(&mutex)
    }
}
