import Logging
import Synchronization
import UpstreamTransport
@testable import Accounts
#if canImport(Glibc)
import Glibc
#endif

/// A clock the test moves by hand (Unix seconds).
final class StoreTestClock: Sendable {
    private let now: Mutex<Double>
    init(_ start: Double) { now = Mutex(start) }
    var value: Double { now.withLock { $0 } }
    func set(_ t: Double) { now.withLock { $0 = t } }
    func advance(_ s: Double) { now.withLock { $0 += s } }
}

/// Log lines kept for assertions.
final class StoreTestLog: Sendable {
    private let lines = Mutex<[(Logger.Level, String)]>([])
    var all: [(Logger.Level, String)] { lines.withLock { $0 } }
    func warnings() -> [String] { all.filter { $0.0 >= .warning }.map(\.1) }
    func append(_ level: Logger.Level, _ text: String) { lines.withLock { $0.append((level, text)) } }

    var logger: Logger {
        Logger(label: "store-test", factory: { _ in Handler(log: self) })
    }

    struct Handler: LogHandler {
        let log: StoreTestLog
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

/// A temporary auth directory, a store over it and a fake token endpoint.
struct StoreTestFixture {
    static let transport = UpstreamTransport()
    /// 2026-04-14T10:00:00Z.
    static let start: Double = 1_776_160_800

    let dir: AuthDirectory
    let clock: StoreTestClock
    let log: StoreTestLog
    let server: StoreTestServer
    let store: AccountStore

    init(leads: [String: Double] = [:], _ handler: @escaping StoreTestServer.Handler) async throws {
        var template = Array("/tmp/cliproxy-store-XXXXXX".utf8CString)
        let path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
        dir = AuthDirectory(path: path + "/auths")
        try dir.ensureExists()
        clock = StoreTestClock(Self.start)
        log = StoreTestLog()
        server = try await StoreTestServer.start(handler)
        var specs: [String: OAuthSpec] = [:]
        for kind in AccountKind.allCases {
            specs[kind.provider] = Self.spec(kind, tokenURL: server.url + "/token/" + kind.rawValue, lead: leads[kind.provider] ?? 300)
        }
        let c = clock
        store = AccountStore(directory: dir, specs: specs, transport: Self.transport,
                             options: { _ in TransportOptions(connectTimeout: 5, idleReadTimeout: 10, totalTimeout: 20) },
                             clock: { c.value }, logger: log.logger, retryDelays: [0, 0])
    }

    /// Each provider's refresh facts, pointed at the fake.
    static func spec(_ kind: AccountKind, tokenURL: String, lead: Double) -> OAuthSpec {
        switch kind {
        case .gemini:
            return OAuthSpec(tokenURL: tokenURL, clientID: "spec-gemini-client", clientSecret: "spec-gemini-secret", refreshLeadSeconds: lead)
        case .codex:
            return OAuthSpec(tokenURL: tokenURL, clientID: "app_codex", refreshParams: ["scope": "openid profile email"], refreshLeadSeconds: lead)
        case .claude:
            return OAuthSpec(tokenURL: tokenURL, clientID: "claude-client", tokenEncoding: "json", refreshLeadSeconds: lead)
        case .qwen:
            return OAuthSpec(tokenURL: tokenURL, clientID: "qwen-client", refreshLeadSeconds: lead)
        }
    }

    func stop() { server.stop() }

    /// Writes a credential file the way another tool would (not through the store).
    func put(_ name: String, _ text: String) {
        let p = dir.path + "/" + name
        let fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        precondition(fd >= 0)
        _ = Array(text.utf8).withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }

    func remove(_ name: String) { unlink(dir.path + "/" + name) }

    func read(_ name: String) -> JSONValue? { dir.read(name).flatMap(JSONValue.parse) }

    func mode(_ name: String) -> UInt32 {
        var st = stat()
        stat(dir.path + "/" + name, &st)
        return UInt32(st.st_mode & 0o777)
    }

    /// A Claude file whose token expires `expiresIn` seconds from the fixture's start.
    static func claude(access: String = "old-access", refresh: String = "old-refresh", expiresIn: Double, extra: String = "") -> String {
        #"{"type":"claude","access_token":"\#(access)","refresh_token":"\#(refresh)","email":"c@example.com","expired":"\#(RFC3339.format(start + expiresIn))"\#(extra)}"#
    }

    /// An unsigned JWT carrying `claims`.
    static func jwt(_ claims: String) -> String {
        func b64url(_ s: String) -> String {
            let table = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".unicodeScalars)
            let b = Array(s.utf8)
            var out = String.UnicodeScalarView()
            var i = 0
            while i < b.count {
                let n = (UInt32(b[i]) << 16) | (i + 1 < b.count ? UInt32(b[i + 1]) << 8 : 0) | (i + 2 < b.count ? UInt32(b[i + 2]) : 0)
                let chars = i + 2 < b.count ? 4 : (i + 1 < b.count ? 3 : 2)
                for k in 0..<chars { out.append(table[Int((n >> UInt32(18 - 6 * k)) & 63)]) }
                i += 3
            }
            return String(out)
        }
        return b64url(#"{"alg":"none"}"#) + "." + b64url(claims) + ".sig"
    }
}
