// The public surface of the upstream transport: requests, options, the
// response head, errors. The engine is in CurlClient.swift, one transfer in
// Transfer.swift.

/// One HTTP request to an upstream.
///
/// `url` and `headers` usually carry credentials (API keys in headers or in a
/// `?key=` query): the transport never logs them and never puts them in an
/// error message.
public struct UpstreamRequest: Sendable {
    /// The request method, e.g. `"POST"`. Must be an HTTP token.
    public var method: String
    /// An absolute `http://` or `https://` URL.
    public var url: String
    /// Header fields in order, names as they should be sent. An empty value is
    /// sent as an empty header. `Content-Length`, `Transfer-Encoding`,
    /// `Connection`, `Keep-Alive`, `Upgrade`, `TE` and `Expect` are managed by
    /// the transport and ignored here.
    public var headers: [(String, String)]
    /// The request body; sent with a `Content-Length` when not empty (or when
    /// the method is POST, PUT or PATCH).
    public var body: [UInt8]

    public init(method: String = "GET", url: String, headers: [(String, String)] = [], body: [UInt8] = []) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }
}

/// Which HTTP version to negotiate.
public enum HTTPVersionPreference: Sendable, Equatable, Hashable {
    /// HTTP/2 over TLS when the server offers it through ALPN, HTTP/1.1
    /// otherwise. Never cleartext HTTP/2 with prior knowledge: libcurl 7.88
    /// breaks when it multiplexes h2c streams.
    case automatic
    /// HTTP/1.1 only.
    case http1
}

/// How one transfer connects and when it gives up.
public struct TransportOptions: Sendable, Equatable {
    /// A proxy: `socks5://`, `socks5h://` (the proxy resolves host names),
    /// `http://` or `https://`, with optional percent-encoded `user:pass@`.
    /// HTTP proxies are always used as a `CONNECT` tunnel, so they never see
    /// the request itself. `nil` means a direct connection, whatever the
    /// `*_proxy` environment variables say.
    public var proxyURL: String?
    /// Seconds allowed for the connection phase (TCP, proxy handshake, TLS).
    public var connectTimeout: Double
    /// Seconds without any byte while reading the body before the transfer
    /// fails with `TransportError.timedOut`. Does not run while the response
    /// head is awaited (see `headTimeout`) nor while the transport holds back
    /// a transfer whose consumer is not reading. Zero or less disables it.
    public var idleReadTimeout: Double
    /// Optional cap on the whole transfer, body included: for non-stream calls.
    public var totalTimeout: Double?
    /// A PEM file of extra CA certificates (e.g. a test server's self-signed
    /// certificate); also used to verify an `https://` proxy. It replaces
    /// libcurl's CA bundle file; with Debian's libcurl the system directory
    /// `/etc/ssl/certs` (CAPATH) stays trusted besides.
    public var caFile: String?
    /// HTTP version preference.
    public var httpVersion: HTTPVersionPreference
    /// Optional cap, in seconds, on the wait for the response head after the
    /// transfer started (an addition to the brief: without it a stream whose
    /// upstream never answers waits for `totalTimeout` or forever).
    public var headTimeout: Double?

    public init(
        proxyURL: String? = nil,
        connectTimeout: Double = 10,
        idleReadTimeout: Double = 120,
        totalTimeout: Double? = nil,
        caFile: String? = nil,
        httpVersion: HTTPVersionPreference = .automatic,
        headTimeout: Double? = nil
    ) {
        self.proxyURL = proxyURL
        self.connectTimeout = connectTimeout
        self.idleReadTimeout = idleReadTimeout
        self.totalTimeout = totalTimeout
        self.caFile = caFile
        self.httpVersion = httpVersion
        self.headTimeout = headTimeout
    }
}

/// The status line and header fields of a final (non-1xx) response.
public struct UpstreamHead: Sendable {
    /// The status code, e.g. 200 or 429.
    public var status: Int
    /// Header fields in order, names as the server sent them (lower case over
    /// HTTP/2). Use `value(of:)` / `values(of:)` for case-insensitive lookups.
    public var headers: [(String, String)]

    public init(status: Int, headers: [(String, String)]) {
        self.status = status
        self.headers = headers
    }

    /// The first value of the header `name`, compared case-insensitively.
    public func value(of name: String) -> String? {
        for (n, v) in headers where asciiCaseInsensitiveEquals(n, name) { return v }
        return nil
    }

    /// Every value of the header `name`, in order, compared case-insensitively.
    public func values(of name: String) -> [String] {
        headers.compactMap { asciiCaseInsensitiveEquals($0.0, name) ? $0.1 : nil }
    }
}

/// Why a transfer failed. Messages name the host and port involved, never the
/// path, query, headers or credentials.
public enum TransportError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The upstream could not be reached (refused, unreachable, unresolvable).
    case connectFailed(String)
    /// The TLS handshake or certificate verification failed.
    case tlsFailed(String)
    /// The proxy could not be reached, rejected the credentials, or could not
    /// reach the upstream.
    case proxyFailed(String)
    /// Connect timeout, head timeout, idle read timeout or total timeout.
    case timedOut(String)
    /// The connection broke: reset, closed early, HTTP/2 stream errors.
    case connectionReset(String)
    /// The consumer cancelled (Task cancellation, `break`, dropped body) or the
    /// transport was shut down.
    case cancelled
    /// The request cannot be sent as given (bad URL, scheme, method, header).
    case invalidRequest(String)
    /// Anything else, with libcurl's error code.
    case other(code: Int, message: String)

    public var description: String {
        switch self {
        case .connectFailed(let m): return "connect failed: \(m)"
        case .tlsFailed(let m): return "TLS failed: \(m)"
        case .proxyFailed(let m): return "proxy failed: \(m)"
        case .timedOut(let m): return "timed out: \(m)"
        case .connectionReset(let m): return "connection reset: \(m)"
        case .cancelled: return "cancelled"
        case .invalidRequest(let m): return "invalid request: \(m)"
        case .other(let code, let m): return "transfer failed (curl \(code)): \(m)"
        }
    }
}

/// The response body: byte chunks in the order and sizes they arrived.
///
/// Iterate it once. Iteration throws `TransportError` when the transfer fails
/// mid-body (after the chunks that arrived before the failure). Ending the
/// iteration early (`break`), cancelling the consuming task, or dropping the
/// body without iterating it aborts the transfer at once and closes its
/// connection (an HTTP/2 stream is reset instead).
///
/// Chunks are buffered while the consumer is slower than the upstream; past
/// a few MiB the transfer is paused until the consumer catches up.
public struct UpstreamBody: AsyncSequence, Sendable {
    public typealias Element = [UInt8]
    public typealias Failure = TransportError

    let handle: BodyHandle

    init(handle: BodyHandle) { self.handle = handle }

    public func makeAsyncIterator() -> Iterator {
        Iterator(box: IteratorBox(handle: handle))
    }

    /// Reads the whole body.
    public func collect() async throws(TransportError) -> [UInt8] {
        var out: [UInt8] = []
        var it = makeAsyncIterator()
        while let chunk = try await it.next() {
            if out.isEmpty { out = chunk } else { out.append(contentsOf: chunk) }
        }
        return out
    }

    /// Aborts the transfer now (as dropping the body would).
    public func cancel() { handle.transfer.cancel() }

    public struct Iterator: AsyncIteratorProtocol {
        public typealias Element = [UInt8]
        public typealias Failure = TransportError

        let box: IteratorBox

        public mutating func next() async throws(TransportError) -> [UInt8]? {
            try await box.next()
        }

        public mutating func next(isolation actor: isolated (any Actor)?) async throws(TransportError) -> [UInt8]? {
            try await box.next()
        }
    }
}

/// Owned by every copy of an `UpstreamBody`: when the last one goes, an
/// unfinished transfer is aborted.
final class BodyHandle: Sendable {
    let transfer: Transfer
    init(transfer: Transfer) { self.transfer = transfer }
    deinit { transfer.cancel() }
}

/// Owned by one iterator: when it goes before the end (`break`), the transfer
/// is aborted even while the body value itself is still in scope.
final class IteratorBox: Sendable {
    let handle: BodyHandle
    init(handle: BodyHandle) { self.handle = handle }
    deinit { handle.transfer.cancel() }
    func next() async throws(TransportError) -> [UInt8]? { try await handle.transfer.nextChunk() }
}

func asciiCaseInsensitiveEquals(_ a: String, _ b: String) -> Bool {
    let x = a.utf8, y = b.utf8
    guard x.count == y.count else { return false }
    for (p, q) in zip(x, y) where p != q {
        let lp = (p >= 65 && p <= 90) ? p | 0x20 : p
        let lq = (q >= 65 && q <= 90) ? q | 0x20 : q
        if lp != lq { return false }
    }
    return true
}
