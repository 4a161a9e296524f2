#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization
import CCurl

/// One request/response: its easy handle, the curl callbacks, and the state
/// shared between the engine thread (producer) and the consumer's task.
///
/// Threading: the `curl`-side fields (`easy`, the header parser, the timers)
/// are set up by the thread that creates the transfer, before it is handed
/// to the engine, and from then on touched only by the engine thread. Every
/// field the consumer sees lives in `state`, behind a mutex.
final class Transfer: @unchecked Sendable {
    /// Above this many buffered bytes the transfer is paused until the
    /// consumer has read the buffer down to `lowWater`. (Over HTTP/2,
    /// libcurl 7.88 goes on receiving a paused stream into its own buffers,
    /// up to its 32 MiB stream window; other streams are not held up.)
    static let highWater = 4 << 20
    static let lowWater = 1 << 20

    let engine: Engine
    let options: TransportOptions
    /// "host:port" of the upstream, for messages.
    let target: String
    /// "host:port" of the proxy, for messages.
    let proxyTarget: String?
    /// An http:// or https:// proxy (always a CONNECT tunnel).
    let proxyIsHTTP: Bool
    /// Strings that must never reach an error message.
    let secrets: [String]

    // MARK: engine-thread state

    var easy: UnsafeMutableRawPointer?
    private var headerList: UnsafeMutablePointer<curl_slist>?
    private let errorBuffer: UnsafeMutablePointer<CChar>
    private var pendingStatus: Int? = nil
    private var pendingHeaders: [(String, String)] = []
    /// The head was delivered; later header lines are trailers.
    private(set) var headSeen = false
    var startedAt: Double = 0
    var lastActivity: Double = 0
    /// The write callback paused the transfer; cleared when the engine resumes it.
    var pausedForConsumer = false

    // MARK: shared state

    private struct State {
        var head: UpstreamHead? = nil
        var headWaiter: CheckedContinuation<Result<UpstreamHead, TransportError>, Never>? = nil
        var chunks: [[UInt8]] = []
        var chunkIndex = 0
        var buffered = 0
        /// libcurl finished the transfer successfully.
        var ended = false
        var failure: TransportError? = nil
        var failureDelivered = false
        var bodyWaiter: CheckedContinuation<Result<[UInt8]?, TransportError>, Never>? = nil
        /// Paused by the write callback; the consumer asks for a resume.
        var paused = false
        var cancelled = false

        mutating func popChunk() -> [UInt8]? {
            guard chunkIndex < chunks.count else { return nil }
            let c = chunks[chunkIndex]
            chunks[chunkIndex] = []
            chunkIndex += 1
            buffered -= c.count
            if chunkIndex == chunks.count {
                chunks.removeAll(keepingCapacity: true)
                chunkIndex = 0
            } else if chunkIndex >= 64 && chunkIndex * 2 >= chunks.count {
                chunks.removeFirst(chunkIndex)
                chunkIndex = 0
            }
            return c
        }
    }
    private let state = Mutex(State())

    // MARK: setup

    init(request: UpstreamRequest, options: TransportOptions, engine: Engine) throws(TransportError) {
        self.engine = engine
        self.options = options

        guard let url = URLParts(request.url), url.scheme == "http" || url.scheme == "https" else {
            throw .invalidRequest("the URL must be an absolute http:// or https:// URL")
        }
        target = url.hostPort(defaultPort: url.scheme == "https" ? 443 : 80)

        var secrets: [String] = [request.url]
        if url.rest.utf8.count > 1 { secrets.append(url.rest) }
        if let ui = url.userinfo { secrets.append(ui); secrets.append(contentsOf: ui.split(separator: ":").map { percentDecoded(String($0)) }) }
        for (_, value) in request.headers {
            let v = trimmedOWS(value)
            if v.utf8.count >= 4 { secrets.append(v) }
            // "Bearer sk-…": the token alone too.
            if let sp = v.lastIndex(of: " ") {
                let tail = String(v[v.index(after: sp)...])
                if tail.utf8.count >= 4 { secrets.append(tail) }
            }
        }

        var proxyString = ""
        if let p = options.proxyURL, !p.isEmpty {
            guard let proxy = URLParts(p) else { throw .invalidRequest("the proxy URL is malformed") }
            let defaultPort: Int
            switch proxy.scheme {
            case "socks5", "socks5h": defaultPort = 1080; proxyIsHTTP = false
            case "http": defaultPort = 1080; proxyIsHTTP = true
            case "https": defaultPort = 443; proxyIsHTTP = true
            default: throw .invalidRequest("unsupported proxy scheme \(proxy.scheme)")
            }
            guard proxy.rest.isEmpty || proxy.rest == "/" else { throw .invalidRequest("the proxy URL must not have a path") }
            proxyTarget = proxy.hostPort(defaultPort: defaultPort)
            secrets.append(p)
            if let ui = proxy.userinfo {
                secrets.append(ui)
                let parts = ui.split(separator: ":", maxSplits: 1).map(String.init)
                for part in parts where !part.isEmpty {
                    secrets.append(part)
                    secrets.append(percentDecoded(part))
                }
            }
            proxyString = p
        } else {
            proxyTarget = nil
            proxyIsHTTP = false
        }
        self.secrets = secrets
        // Last: a throwing init that has not initialised everything runs no deinit.
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)

        let method = request.method.uppercased()
        guard !method.isEmpty, method.utf8.allSatisfy(isTokenByte) else {
            throw .invalidRequest("the method is not an HTTP token")
        }

        var list: UnsafeMutablePointer<curl_slist>? = nil
        var hasContentType = false
        for (name, value) in request.headers {
            guard !name.isEmpty, name.utf8.allSatisfy(isTokenByte) else {
                curl_slist_free_all(list)
                throw .invalidRequest("a header name is not an HTTP token")
            }
            guard !value.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0 }) else {
                curl_slist_free_all(list)
                throw .invalidRequest("the value of header \(name) holds a line break")
            }
            switch name.lowercased() {
            case "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "te", "expect", "proxy-connection":
                continue
            case "content-type":
                hasContentType = true
            default:
                break
            }
            let v = trimmedOWS(value)
            // "Name:" with nothing after it would remove the header in curl; "Name;" sends it empty.
            let line = v.isEmpty ? "\(name);" : "\(name): \(v)"
            list = curl_slist_append(list, line)
        }
        // No 100-continue round trip; no form-urlencoded default for bodies.
        list = curl_slist_append(list, "Expect:")
        if !hasContentType { list = curl_slist_append(list, "Content-Type:") }
        headerList = list

        guard let h = curl_easy_init() else {
            throw .other(code: Int(CURLE_FAILED_INIT.rawValue), message: "curl_easy_init failed")
        }
        easy = h
        let me = Unmanaged.passUnretained(self).toOpaque()

        var rc = CURLE_OK
        func set(_ r: CURLcode) { if rc == CURLE_OK { rc = r } }
        set(cp_setopt_str(h, CURLOPT_URL, request.url))
        set(cp_setopt_str(h, CURLOPT_PROTOCOLS_STR, "http,https"))
        set(cp_setopt_long(h, CURLOPT_NOSIGNAL, 1))
        set(cp_setopt_cloexec_sockets(h))
        set(cp_setopt_long(h, CURLOPT_FOLLOWLOCATION, 0))
        set(cp_setopt_ptr(h, CURLOPT_ERRORBUFFER, UnsafeMutableRawPointer(errorBuffer)))
        set(cp_setopt_data_cb(h, CURLOPT_WRITEFUNCTION, transferWriteCallback))
        set(cp_setopt_ptr(h, CURLOPT_WRITEDATA, me))
        set(cp_setopt_data_cb(h, CURLOPT_HEADERFUNCTION, transferHeaderCallback))
        set(cp_setopt_ptr(h, CURLOPT_HEADERDATA, me))
        set(cp_setopt_long(h, CURLOPT_PIPEWAIT, 1))
        set(cp_setopt_long(h, CURLOPT_TCP_KEEPALIVE, 1))
        set(cp_setopt_long(h, CURLOPT_TCP_NODELAY, 1))
        set(cp_setopt_long(h, CURLOPT_HTTP_CONTENT_DECODING, 0))
        set(cp_setopt_long(h, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1))
        set(cp_setopt_long(h, CURLOPT_HTTP_VERSION, options.httpVersion == .http1 ? Int(CURL_HTTP_VERSION_1_1) : Int(CURL_HTTP_VERSION_2TLS)))
        set(cp_setopt_long(h, CURLOPT_CONNECTTIMEOUT_MS, milliseconds(options.connectTimeout)))
        if let total = options.totalTimeout, total > 0 {
            set(cp_setopt_long(h, CURLOPT_TIMEOUT_MS, milliseconds(total)))
        }
        // "" = no proxy, whatever the environment says; no host bypasses a configured proxy.
        set(cp_setopt_str(h, CURLOPT_PROXY, proxyString))
        set(cp_setopt_str(h, CURLOPT_NOPROXY, ""))
        if proxyIsHTTP { set(cp_setopt_long(h, CURLOPT_HTTPPROXYTUNNEL, 1)) }
        if let ca = options.caFile {
            set(cp_setopt_str(h, CURLOPT_CAINFO, ca))
            set(cp_setopt_str(h, CURLOPT_PROXY_CAINFO, ca))
        }
        switch method {
        case "GET" where request.body.isEmpty:
            set(cp_setopt_long(h, CURLOPT_HTTPGET, 1))
        case "HEAD" where request.body.isEmpty:
            set(cp_setopt_long(h, CURLOPT_NOBODY, 1))
        case "POST", "PUT", "PATCH":
            setBody(h, request.body, &rc)
            if method != "POST" { set(cp_setopt_str(h, CURLOPT_CUSTOMREQUEST, method)) }
        default:
            if request.body.isEmpty {
                set(cp_setopt_long(h, CURLOPT_HTTPGET, 1))
            } else {
                setBody(h, request.body, &rc)
            }
            set(cp_setopt_str(h, CURLOPT_CUSTOMREQUEST, method))
        }
        set(cp_setopt_slist(h, CURLOPT_HTTPHEADER, list))
        if rc != CURLE_OK {
            throw .invalidRequest("libcurl rejected an option: \(String(cString: curl_easy_strerror(rc)))")
        }
    }

    private func setBody(_ h: UnsafeMutableRawPointer, _ body: [UInt8], _ rc: inout CURLcode) {
        var r = cp_setopt_off(h, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count))
        if r == CURLE_OK {
            r = body.withUnsafeBufferPointer { buf in
                // COPYPOSTFIELDS copies POSTFIELDSIZE bytes; it needs a non-null pointer even for none.
                if let base = buf.baseAddress {
                    return cp_setopt_ptr(h, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: base))
                }
                return cp_setopt_str(h, CURLOPT_COPYPOSTFIELDS, "")
            }
        }
        if rc == CURLE_OK { rc = r }
    }

    deinit {
        releaseCurl()
        errorBuffer.deallocate()
    }

    /// Frees the easy handle and header list. Engine thread, after the handle
    /// left the multi handle (or before it was ever added).
    func releaseCurl() {
        if let h = easy { curl_easy_cleanup(h); easy = nil }
        if let l = headerList { curl_slist_free_all(l); headerList = nil }
    }

    // MARK: consumer side

    /// Waits for the final response head.
    func awaitHead() async throws(TransportError) -> UpstreamHead {
        let result: Result<UpstreamHead, TransportError> = await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Result<UpstreamHead, TransportError>, Never>) in
                let now: Result<UpstreamHead, TransportError>? = state.withLock { s in
                    if let h = s.head { return .success(h) }
                    if let f = s.failure { return .failure(f) }
                    if s.ended { return .failure(.connectionReset("\(target): no response head")) }
                    s.headWaiter = c
                    return nil
                }
                if let now { c.resume(returning: now) }
            }
        } onCancel: {
            self.cancel()
        }
        return try result.get()
    }

    /// The next body chunk; nil at the end. Throws the transfer's failure once.
    func nextChunk() async throws(TransportError) -> [UInt8]? {
        if Task.isCancelled {
            cancel()
            let deliver: Bool = state.withLock { s in
                if s.failure == .cancelled && !s.failureDelivered { s.failureDelivered = true; return true }
                return false
            }
            if deliver { throw .cancelled }
            return nil
        }
        enum Now { case chunk([UInt8]), end, fail(TransportError), wait }
        var resume = false
        let now: Now = state.withLock { s in
            if let c = s.popChunk() {
                if s.paused && s.buffered <= Transfer.lowWater { s.paused = false; resume = true }
                return .chunk(c)
            }
            if let f = s.failure {
                if s.failureDelivered { return .end }
                s.failureDelivered = true
                return .fail(f)
            }
            if s.ended { return .end }
            if s.paused { s.paused = false; resume = true }
            return .wait
        }
        if resume { engine.requestResume(self) }
        switch now {
        case .chunk(let c): return c
        case .end: return nil
        case .fail(let f): throw f
        case .wait: break
        }
        let result: Result<[UInt8]?, TransportError> = await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Result<[UInt8]?, TransportError>, Never>) in
                let now: Result<[UInt8]?, TransportError>? = state.withLock { s in
                    // Arrived between the two locks (never enough to have paused).
                    if let c = s.popChunk() { return .success(c) }
                    if let f = s.failure {
                        if s.failureDelivered { return .success(nil) }
                        s.failureDelivered = true
                        return .failure(f)
                    }
                    if s.ended { return .success(nil) }
                    s.bodyWaiter = c
                    return nil
                }
                if let now { c.resume(returning: now) }
            }
        } onCancel: {
            self.cancel()
        }
        return try result.get()
    }

    /// Aborts the transfer (idempotent; a no-op once it is over and read).
    /// Wakes a waiting consumer with `.cancelled` and drops buffered chunks.
    func cancel() {
        typealias HW = CheckedContinuation<Result<UpstreamHead, TransportError>, Never>
        typealias BW = CheckedContinuation<Result<[UInt8]?, TransportError>, Never>
        let (hw, bw, running): (HW?, BW?, Bool) = state.withLock { s in
            if s.cancelled { return (nil, nil, false) }
            s.cancelled = true
            s.chunks = []
            s.chunkIndex = 0
            s.buffered = 0
            let running = !s.ended && s.failure == nil
            if running { s.failure = .cancelled }
            let hw = s.headWaiter, bw = s.bodyWaiter
            s.headWaiter = nil
            s.bodyWaiter = nil
            if bw != nil { s.failureDelivered = true }
            return (hw, bw, running)
        }
        hw?.resume(returning: .failure(.cancelled))
        bw?.resume(returning: .failure(.cancelled))
        if running { engine.requestRemove(self) }
    }

    /// Bytes buffered and not yet read (for tests).
    var bufferedBytes: Int { state.withLock { $0.buffered } }

    // MARK: engine side

    enum WriteOutcome { case taken, pause, abort }

    /// The write callback: a body chunk arrived.
    fileprivate func received(_ bytes: UnsafeRawBufferPointer) -> WriteOutcome {
        lastActivity = monotonicNow()
        let chunk = [UInt8](bytes)
        var waiter: CheckedContinuation<Result<[UInt8]?, TransportError>, Never>? = nil
        let outcome: WriteOutcome = state.withLock { s in
            if s.cancelled || s.failure != nil { return .abort }
            if let w = s.bodyWaiter {
                s.bodyWaiter = nil
                waiter = w
                return .taken
            }
            if s.buffered >= Transfer.highWater {
                s.paused = true
                return .pause
            }
            s.chunks.append(chunk)
            s.buffered += chunk.count
            return .taken
        }
        waiter?.resume(returning: .success(chunk))
        if outcome == .pause { pausedForConsumer = true }
        return outcome
    }

    /// The header callback: one header line (CRLF included).
    fileprivate func headerLine(_ bytes: UnsafeRawBufferPointer) -> Bool {
        if headSeen { return !isCancelled }  // trailers
        var n = bytes.count
        while n > 0, bytes[n - 1] == 0x0A || bytes[n - 1] == 0x0D { n -= 1 }
        let line = UnsafeRawBufferPointer(rebasing: bytes[0..<n])
        if line.isEmpty {
            if let status = pendingStatus, status >= 200 {
                headSeen = true
                lastActivity = monotonicNow()
                let head = UpstreamHead(status: status, headers: pendingHeaders)
                pendingHeaders = []
                deliverHead(head)
            } else {
                // The end of a 1xx block: the final one follows.
                pendingStatus = nil
                pendingHeaders = []
            }
            return !isCancelled
        }
        if line.starts(with: "HTTP/".utf8) {
            pendingHeaders = []
            pendingStatus = nil
            let parts = line.split(separator: 0x20, maxSplits: 2, omittingEmptySubsequences: true)
            if parts.count >= 2, let code = Int(String(decoding: parts[1], as: UTF8.self)) { pendingStatus = code }
            return true
        }
        if line[0] == 0x20 || line[0] == 0x09 {
            // obs-fold: continues the previous value.
            if !pendingHeaders.isEmpty {
                pendingHeaders[pendingHeaders.count - 1].1 += " " + trimmedOWS(String(decoding: line, as: UTF8.self))
            }
            return true
        }
        if let colon = line.firstIndex(of: UInt8(ascii: ":")) {
            let name = String(decoding: line[..<colon], as: UTF8.self)
            let value = trimmedOWS(String(decoding: line[(colon + 1)...], as: UTF8.self))
            pendingHeaders.append((name, value))
        }
        return true
    }

    private var isCancelled: Bool { state.withLock { $0.cancelled } }

    private func deliverHead(_ head: UpstreamHead) {
        let waiter: CheckedContinuation<Result<UpstreamHead, TransportError>, Never>? = state.withLock { s in
            s.head = head
            let w = s.headWaiter
            s.headWaiter = nil
            return w
        }
        waiter?.resume(returning: .success(head))
    }

    /// The transfer is over: `error` nil for success. Engine thread, after the
    /// handle was removed from the multi handle.
    func finish(_ error: TransportError?) {
        typealias HW = CheckedContinuation<Result<UpstreamHead, TransportError>, Never>
        typealias BW = CheckedContinuation<Result<[UInt8]?, TransportError>, Never>
        let (hw, hr, bw, br): (HW?, Result<UpstreamHead, TransportError>?, BW?, Result<[UInt8]?, TransportError>?) = state.withLock { s in
            if s.failure == nil && !s.ended {
                if let e = error { s.failure = e }
                else if s.head == nil { s.failure = .connectionReset("\(target): the transfer ended without a response head") }
                else { s.ended = true }
            }
            var hw: HW? = nil, hr: Result<UpstreamHead, TransportError>? = nil
            if let w = s.headWaiter {
                s.headWaiter = nil
                hw = w
                if let h = s.head { hr = .success(h) } else { hr = .failure(s.failure ?? .cancelled) }
            }
            var bw: BW? = nil, br: Result<[UInt8]?, TransportError>? = nil
            if let w = s.bodyWaiter, s.chunkIndex >= s.chunks.count {
                s.bodyWaiter = nil
                bw = w
                if let f = s.failure { s.failureDelivered = true; br = .failure(f) } else { br = .success(nil) }
            }
            return (hw, hr, bw, br)
        }
        if let hw, let hr { hw.resume(returning: hr) }
        if let bw, let br { bw.resume(returning: br) }
    }

    /// Maps a libcurl result to an error; reads details from the easy handle,
    /// so call it before `releaseCurl`.
    func error(for code: CURLcode) -> TransportError {
        let c = Int(code.rawValue)
        var detail = String(cString: errorBuffer)
        if detail.isEmpty { detail = String(cString: curl_easy_strerror(code)) }
        detail = redacted(detail, secrets: secrets)
        if detail.utf8.count > 300 { detail = String(detail.prefix(300)) + "…" }
        let proxy = proxyTarget ?? ""
        if proxyIsHTTP, let h = easy {
            var connectCode = 0
            _ = cp_getinfo_long(h, CURLINFO_HTTP_CONNECTCODE, &connectCode)
            if connectCode != 0 && connectCode != 200 {
                let what = connectCode == 407 ? "rejected the credentials" : "refused the tunnel"
                return .proxyFailed("proxy \(proxy) \(what) to \(target) (CONNECT answered \(connectCode))")
            }
        }
        switch code {
        case CURLE_COULDNT_RESOLVE_PROXY, CURLE_PROXY:
            return .proxyFailed("proxy \(proxy) for \(target): \(detail)")
        case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST:
            if proxyTarget != nil { return .proxyFailed("proxy \(proxy): \(detail)") }
            return .connectFailed("\(target): \(detail)")
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CERTPROBLEM, CURLE_SSL_CIPHER,
             CURLE_SSL_CACERT_BADFILE, CURLE_SSL_ISSUER_ERROR, CURLE_SSL_PINNEDPUBKEYNOTMATCH, CURLE_SSL_INVALIDCERTSTATUS,
             CURLE_SSL_CLIENTCERT, CURLE_SSL_ENGINE_NOTFOUND, CURLE_SSL_ENGINE_SETFAILED, CURLE_SSL_ENGINE_INITFAILED,
             CURLE_USE_SSL_FAILED, CURLE_SSL_CRL_BADFILE, CURLE_SSL_SHUTDOWN_FAILED:
            if proxyIsHTTP, let p = proxyTarget, let h = easy {
                // An https:// proxy: whose certificate failed?
                var proxyVerify = 0, connectCode = 0
                _ = cp_getinfo_long(h, CURLINFO_PROXY_SSL_VERIFYRESULT, &proxyVerify)
                _ = cp_getinfo_long(h, CURLINFO_HTTP_CONNECTCODE, &connectCode)
                if proxyVerify != 0 || connectCode == 0 { return .tlsFailed("proxy \(p): \(detail)") }
            }
            return .tlsFailed("\(target): \(detail)")
        case CURLE_OPERATION_TIMEDOUT:
            return .timedOut("\(target): \(detail)")
        case CURLE_RECV_ERROR, CURLE_SEND_ERROR, CURLE_GOT_NOTHING, CURLE_PARTIAL_FILE, CURLE_HTTP2, CURLE_HTTP2_STREAM,
             CURLE_WEIRD_SERVER_REPLY, CURLE_BAD_CONTENT_ENCODING:
            return .connectionReset("\(target): \(detail)")
        case CURLE_URL_MALFORMAT, CURLE_UNSUPPORTED_PROTOCOL, CURLE_BAD_FUNCTION_ARGUMENT:
            return .invalidRequest("\(target): \(detail)")
        case CURLE_WRITE_ERROR, CURLE_ABORTED_BY_CALLBACK:
            if isCancelled { return .cancelled }
            return .other(code: c, message: "\(target): \(detail)")
        default:
            return .other(code: c, message: "\(target): \(detail)")
        }
    }
}

// MARK: - callbacks (engine thread)

private let transferWriteCallback: cp_curl_data_cb = { ptr, size, count, userdata in
    guard let userdata else { return 0 }
    let t = Unmanaged<Transfer>.fromOpaque(userdata).takeUnretainedValue()
    let n = size * count
    switch t.received(UnsafeRawBufferPointer(start: ptr, count: n)) {
    case .taken: return n
    case .pause: return cp_writefunc_pause()
    case .abort: return 0
    }
}

private let transferHeaderCallback: cp_curl_data_cb = { ptr, size, count, userdata in
    guard let userdata else { return 0 }
    let t = Unmanaged<Transfer>.fromOpaque(userdata).takeUnretainedValue()
    let n = size * count
    return t.headerLine(UnsafeRawBufferPointer(start: ptr, count: n)) ? n : 0
}

// MARK: - helpers

func monotonicNow() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

private func milliseconds(_ seconds: Double) -> Int {
    guard seconds > 0, seconds.isFinite else { return 0 }
    return max(1, Int((seconds * 1000).rounded(.up)))
}

/// tchar of RFC 9110.
private func isTokenByte(_ b: UInt8) -> Bool {
    switch b {
    case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
    case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
         UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
         UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
        return true
    default: return false
    }
}

func trimmedOWS(_ s: String) -> String {
    let u = s.utf8
    guard let first = u.firstIndex(where: { $0 != 0x20 && $0 != 0x09 }) else { return "" }
    let last = u.lastIndex(where: { $0 != 0x20 && $0 != 0x09 })!
    return String(s[first...last])
}
