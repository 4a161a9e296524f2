// The libcurl transport: one multi handle driven by one dedicated thread.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization
import CCurl

/// HTTP client for upstream LLM APIs, built on libcurl's multi interface.
///
/// One `CURLM` handle is driven by one dedicated thread (`curl_multi_poll`,
/// woken by `curl_multi_wakeup`); every transfer is an easy handle on it.
/// Connections (and HTTP/2 multiplexing, over TLS) are shared by every
/// transfer of one `UpstreamTransport`, so keep one for the process.
///
/// Nothing here logs, and error messages name host and port only: URLs and
/// headers carry API keys. Sockets are opened close-on-exec, so a child
/// process cannot keep an aborted upstream connection alive. Environment
/// proxy variables are ignored: only `TransportOptions.proxyURL` counts.
public final class UpstreamTransport: Sendable {
    let engine: Engine

    /// - Parameter maxConnectionsPerHost: connections open at once to one
    ///   host (and port); transfers beyond wait for a free connection, or
    ///   share one as HTTP/2 streams. The default is high because an
    ///   HTTP/1.1 upstream (a local OpenAI-compatible server) needs one
    ///   connection per open stream: with 16, the 17th concurrent stream
    ///   waited for one of the first 16 to end (measured in
    ///   docs/RELIABILITY.md, "Load").
    public init(maxConnectionsPerHost: Int = 1024) {
        engine = Engine(maxConnectionsPerHost: max(1, maxConnectionsPerHost))
    }

    deinit { engine.shutdown() }

    /// Starts the transfer; returns when the status line and headers arrived (1xx skipped),
    /// with the body as an AsyncSequence of byte chunks delivered as they arrive.
    ///
    /// A non-2xx status is not an error: it arrives as a head like any other.
    /// Cancelling the calling task while the head is awaited aborts the
    /// transfer and throws `.cancelled`.
    public func start(_ request: UpstreamRequest, options: TransportOptions) async throws(TransportError) -> (UpstreamHead, UpstreamBody) {
        if Task.isCancelled { throw .cancelled }
        let transfer = try Transfer(request: request, options: options, engine: engine)
        // Owned from here on: if the head never comes, dropping it is harmless.
        let handle = BodyHandle(transfer: transfer)
        guard engine.submit(transfer) else { throw .cancelled }
        let head = try await transfer.awaitHead()
        return (head, UpstreamBody(handle: handle))
    }

    /// Convenience: whole body.
    public func send(_ request: UpstreamRequest, options: TransportOptions) async throws(TransportError) -> (UpstreamHead, [UInt8]) {
        let (head, body) = try await start(request, options: options)
        return (head, try await body.collect())
    }

    /// Aborts every transfer (their consumers see `.cancelled`), closes every
    /// connection and stops the engine thread. Later calls throw `.cancelled`.
    /// Idempotent; also done when the transport is released.
    public func shutdown() { engine.shutdown() }
}

private let curlGlobalInit: CURLcode = curl_global_init(cp_global_default())

/// The multi handle and its thread.
final class Engine: @unchecked Sendable {
    private let multi: UnsafeMutableRawPointer

    private struct Queue {
        var adds: [Transfer] = []
        var removes: [Transfer] = []
        var resumes: [Transfer] = []
        var stopping = false
        /// The thread has taken its last look at the queue.
        var stopped = false
    }
    private let queue = Mutex(Queue())

    /// Transfers on the multi handle, by easy handle. Engine thread only.
    private var active: [UnsafeMutableRawPointer: Transfer] = [:]

    init(maxConnectionsPerHost: Int) {
        _ = curlGlobalInit
        multi = curl_multi_init()!
        _ = cp_multi_setopt_long(multi, CURLMOPT_MAX_HOST_CONNECTIONS, maxConnectionsPerHost)
        _ = cp_multi_setopt_long(multi, CURLMOPT_MAXCONNECTS, min(256, max(64, 4 * maxConnectionsPerHost)))  // idle ones kept
        _ = cp_multi_setopt_long(multi, CURLMOPT_PIPELINING, Int(CURLPIPE_MULTIPLEX))

        var attr = pthread_attr_t()
        pthread_attr_init(&attr)
        pthread_attr_setstacksize(&attr, 1 << 20)
        var tid = pthread_t()
        let rc = pthread_create(&tid, &attr, { raw in
            let engine = Unmanaged<Engine>.fromOpaque(raw!).takeRetainedValue()
            engine.run()
            return nil
        }, Unmanaged.passRetained(self).toOpaque())
        pthread_attr_destroy(&attr)
        if rc == 0 {
            pthread_detach(tid)
        } else {
            // No thread: refuse every transfer.
            Unmanaged.passUnretained(self).release()
            queue.withLock { $0.stopping = true; $0.stopped = true }
            _ = curl_multi_cleanup(multi)
        }
    }

    /// Hands a configured transfer to the thread; false after shutdown.
    func submit(_ t: Transfer) -> Bool {
        // Wakeups happen under the lock: once the thread has set `stopped`
        // (under the lock too) nobody touches the multi handle it frees.
        queue.withLock { q in
            if q.stopping { return false }
            q.adds.append(t)
            curl_multi_wakeup(multi)
            return true
        }
    }

    /// Asks the thread to take the transfer off the multi handle (abort).
    func requestRemove(_ t: Transfer) {
        queue.withLock { q in
            if q.stopped { return }
            q.removes.append(t)
            curl_multi_wakeup(multi)
        }
    }

    /// Asks the thread to unpause a transfer its consumer caught up with.
    func requestResume(_ t: Transfer) {
        queue.withLock { q in
            if q.stopped { return }
            q.resumes.append(t)
            curl_multi_wakeup(multi)
        }
    }

    func shutdown() {
        queue.withLock { q in
            if q.stopping { return }
            q.stopping = true
            curl_multi_wakeup(multi)
        }
    }

    // MARK: the thread

    private func run() {
        while true {
            let (adds, removes, resumes, stopping) = queue.withLock { q in
                let taken = (q.adds, q.removes, q.resumes, q.stopping)
                q.adds = []
                q.removes = []
                q.resumes = []
                if q.stopping { q.stopped = true }
                return taken
            }
            let now = monotonicNow()
            for t in adds {
                guard let h = t.easy else { continue }
                t.startedAt = now
                t.lastActivity = now
                if curl_multi_add_handle(multi, h) == CURLM_OK {
                    active[h] = t
                } else {
                    t.finish(.other(code: -1, message: "the transfer could not be started"))
                    t.releaseCurl()
                }
            }
            for t in removes { detach(t, with: .cancelled) }
            for t in resumes {
                guard let h = t.easy, active[h] != nil, t.pausedForConsumer else { continue }
                t.pausedForConsumer = false
                t.lastActivity = monotonicNow()
                _ = curl_easy_pause(h, cp_pause_cont())
            }
            if stopping {
                for t in Array(active.values) { detach(t, with: .cancelled) }
                _ = curl_multi_cleanup(multi)
                return
            }

            var running: Int32 = 0
            _ = curl_multi_perform(multi, &running)

            // Copy the messages out: removing a handle invalidates them.
            var done: [(UnsafeMutableRawPointer, CURLcode)] = []
            var left: Int32 = 0
            while let msg = curl_multi_info_read(multi, &left) {
                if msg.pointee.msg == CURLMSG_DONE, let h = msg.pointee.easy_handle {
                    done.append((h, msg.pointee.data.result))
                }
            }
            for (h, code) in done {
                guard let t = active.removeValue(forKey: h) else { continue }
                _ = curl_multi_remove_handle(multi, h)
                let error: TransportError? = code == CURLE_OK ? nil : t.error(for: code)
                t.releaseCurl()
                t.finish(error)
            }

            // Our own timers: head timeout and idle read timeout.
            let later = monotonicNow()
            var wait = 1.0
            var expired: [(Transfer, TransportError)] = []
            for t in active.values {
                var deadline = Double.infinity
                var error = TransportError.cancelled
                if !t.headSeen {
                    if let limit = t.options.headTimeout, limit > 0 {
                        deadline = t.startedAt + limit
                        error = .timedOut("\(t.target): no response head within \(formatSeconds(limit)) s")
                    }
                } else if !t.pausedForConsumer, t.options.idleReadTimeout > 0 {
                    deadline = t.lastActivity + t.options.idleReadTimeout
                    error = .timedOut("\(t.target): no data for \(formatSeconds(t.options.idleReadTimeout)) s")
                }
                if deadline <= later {
                    expired.append((t, error))
                } else {
                    wait = min(wait, deadline - later)
                }
            }
            for (t, e) in expired { detach(t, with: e) }
            if !expired.isEmpty { continue }

            let ms = Int32(max(0, min(1000, (wait * 1000).rounded(.up))))
            _ = curl_multi_poll(multi, nil, 0, ms, nil)
        }
    }

    /// Takes a running transfer off the multi handle and fails it.
    private func detach(_ t: Transfer, with error: TransportError) {
        guard let h = t.easy, active.removeValue(forKey: h) != nil else { return }
        _ = curl_multi_remove_handle(multi, h)
        t.releaseCurl()
        t.finish(error)
    }
}

private func formatSeconds(_ s: Double) -> String {
    if s == s.rounded() && s < 1e9 { return String(Int(s)) }
    let ms = Int((s * 1000).rounded())
    let frac = ms % 1000
    var f = String(frac)
    while f.count < 3 { f = "0" + f }
    while f.hasSuffix("0") { f.removeLast() }
    return "\(ms / 1000).\(f)"
}
