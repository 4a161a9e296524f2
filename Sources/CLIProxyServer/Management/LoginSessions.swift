import Accounts
import Hummingbird
import Logging
import RuleEngine
import Synchronization
import UpstreamTransport

/// Sign-ins started from the management API (management-api.md §3.7): the
/// same flows as `cliproxy login`, run in the background. A starter answers
/// at once with the URL to open and a `state`; `get-auth-status?state=` says
/// how that sign-in is going. The credential file lands in `auth-dir`, where
/// the watcher picks it up.
///
/// Choices where the reference is loose: an unknown or expired state is an
/// error, not "ok" (a UI polling it then stops and says so, instead of
/// reporting a success that never happened); a session lives 10 minutes.
/// The provider redirects to its registered `localhost:<port>/callback`, so
/// the browser must run on the proxy's machine (or paste nothing: a remote
/// UI cannot complete a loopback callback; `cliproxy login` can).
final class LoginSessions: Sendable {
    /// How one sign-in is going.
    enum Status: Sendable, Equatable { case wait, ok, error(String) }

    /// One sign-in's status, shared with the task running it, and the line
    /// through which a redirect pasted into the UI reaches the flow.
    final class Session: Sendable {
        let status = Mutex<Status>(.wait)
        let expires: UInt64
        let kind: AccountKind
        let pasted: AsyncStream<String>
        let paste: AsyncStream<String>.Continuation
        init(kind: AccountKind, expires: UInt64) {
            self.kind = kind
            self.expires = expires
            (pasted, paste) = AsyncStream.makeStream(of: String.self)
        }
    }

    static let lifetime: UInt64 = 600 * 1_000_000_000
    private let sessions = Mutex<[String: Session]>([:])
    let store: ServerStateStore
    let transport: UpstreamTransport
    let logger: Logger

    init(store: ServerStateStore, transport: UpstreamTransport, logger: Logger) {
        self.store = store
        self.transport = transport
        self.logger = logger
    }

    /// Starts a sign-in of `kind`; `200 {"status":"ok","url","state"}`, or
    /// 500 with the reason when it could not start.
    func start(_ kind: AccountKind, projectID: String?, callbackPort: Int?) async -> Response {
        let state = store.state
        guard let spec = ServerState.oauthSpecs(catalog: state.catalog, config: state.config)[kind.provider] else {
            return Reply.error(500, "no sign-in settings", message: "Rules/providers/\(kind.provider).json has no oauth section")
        }
        let config = state.config
        let login = LoginOptions(noBrowser: false, callbackPort: callbackPort, projectID: projectID, timeout: 600)
        let directory = AuthDirectory(path: config.authDirPath)
        let (urls, sink) = AsyncStream.makeStream(of: String.self)
        let session = Session(kind: kind, expires: RuleEngine.Clock.nanoseconds() + Self.lifetime)
        let browser = CapturingBrowser(sink: sink), console = QuietConsole(logger: logger, pasted: session.pasted)
        let transport = self.transport, logger = self.logger
        Task {
            do {
                let result = try await Login.run(kind, spec: spec, directory: directory, transport: transport,
                                                 transportOptions: Login.transportOptions(proxyURL: config.proxyURL), options: login,
                                                 console: console, browser: browser)
                session.status.withLock { $0 = Status.ok }
                logger.info("management sign-in: added \(result.file.name)")
            } catch {
                let why = (error as? LoginError)?.description ?? "\(error)"
                session.status.withLock { $0 = .error(why) }
                logger.warning("management sign-in (\(kind.rawValue)) failed: \(why)")
            }
            sink.finish()
            session.paste.finish()
        }
        // The flow opens its URL within moments (Qwen after asking for a device code).
        var url: String?
        for await u in urls { url = u; break }
        guard let url else {
            let why: String = if case .error(let e) = session.status.withLock({ $0 }) { e } else { "the sign-in did not start" }
            return Reply.json(500, .object(["error": .string(why)]))
        }
        let key = Self.state(in: url) ?? Self.randomState()
        sessions.withLock { all in
            let now = RuleEngine.Clock.nanoseconds()
            all = all.filter { $0.value.expires > now }
            all[key] = session
        }
        return Reply.json(200, .object(["status": .string("ok"), "url": .string(url), "state": .string(key)]))
    }

    /// `get-auth-status?state=`.
    func status(_ state: String?) -> Response {
        guard let state, !state.isEmpty, state.count <= 128, !state.contains("/"), !state.contains("\\") else {
            return Reply.json(400, .object(["status": .string("error"), "error": .string("invalid state")]))
        }
        let session = sessions.withLock { $0[state] }
        guard let session, session.expires > RuleEngine.Clock.nanoseconds() else {
            return Reply.json(200, .object(["status": .string("error"), "error": .string("unknown or expired state")]))
        }
        switch session.status.withLock({ $0 }) {
        case .wait: return Reply.json(200, .object(["status": .string("wait")]))
        case .ok: return Reply.json(200, .object(["status": .string("ok")]))
        case .error(let e): return Reply.json(200, .object(["status": .string("error"), "error": .string(e)]))
        }
    }

    /// `POST oauth-callback`: a redirect the browser could not deliver to the
    /// loopback callback, handed in through the UI — the whole `redirect_url`,
    /// or its `code`/`state`/`error`. It reaches the waiting flow as a pasted
    /// address would in a terminal.
    func callback(provider: String?, redirectURL: String?, code: String?, state: String?, error: String?) -> Response {
        var code = code, state = state, error = error
        if let redirectURL {
            for (k, v) in URLQuery.parameters(ofURL: Substring(redirectURL)) {
                switch k { case "code": code = v; case "state": state = v; case "error": error = v; default: break }
            }
        }
        guard let state, !state.isEmpty, let session = sessions.withLock({ $0[state] }), session.expires > RuleEngine.Clock.nanoseconds() else {
            return Reply.json(404, .object(["status": .string("error"), "error": .string("unknown or expired state")]))
        }
        let aliases: [AccountKind: Set<String>] = [.claude: ["anthropic", "claude"], .codex: ["codex", "openai"],
                                                   .gemini: ["gemini", "google", "gemini-cli"], .qwen: ["qwen"]]
        if let provider, !(aliases[session.kind]?.contains(provider.lowercased()) ?? false) {
            return Reply.json(400, .object(["status": .string("error"), "error": .string("provider does not match state")]))
        }
        guard session.status.withLock({ $0 }) == .wait, session.kind != .qwen else {
            return Reply.json(409, .object(["status": .string("error"), "error": .string("oauth flow is not pending")]))
        }
        let pairs = [("state", state)] + [("code", code), ("error", error)].compactMap { k, v in v.map { (k, $0) } }
        session.paste.yield("http://localhost/callback?" + URLQuery.encode(pairs))
        return Reply.json(200, .object(["status": .string("ok")]))
    }

    /// The `state` query parameter of an authorize URL.
    static func state(in url: String) -> String? {
        URLQuery.parameters(ofURL: Substring(url)).first { $0.0 == "state" }?.1
    }

    static func randomState() -> String {
        (0..<4).map { _ in String(UInt32.random(in: .min ... .max), radix: 16) }.joined()
    }
}

/// Hands the URL a sign-in wants opened to the management starter.
struct CapturingBrowser: BrowserOpener {
    let sink: AsyncStream<String>.Continuation
    func open(_ url: String) -> Bool {
        sink.yield(url)
        return true
    }
}

/// A sign-in without a terminal: what it would print goes to the debug log
/// (never a secret, by the console's contract); what it would read is what
/// `POST oauth-callback` hands in.
struct QuietConsole: LoginConsole {
    let logger: Logger
    let pasted: AsyncStream<String>
    func say(_ line: String) { logger.debug("sign-in: \(line)") }
    func lines() -> AsyncStream<String> { pasted }
}
