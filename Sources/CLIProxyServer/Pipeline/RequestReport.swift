import Hummingbird
import RuleEngine
import Synchronization
import UsageStore

/// One finished client request, as metrics and usage statistics see it:
/// who asked (dialect, a label of the client key — never the key), what for
/// (model), who answered (provider, credential), how it ended, how long each
/// part took, and the tokens the upstream reported.
public struct RequestReport: Sendable {
    /// The client's dialect (`openai`, `responses`, `claude`, `gemini`) and
    /// endpoint path.
    public var dialect: String
    public var endpoint: String
    /// A stable, non-reversible label of the client's API key ("" without one).
    public var clientKey: String
    /// The model as the client named it ("" when the request never got that far).
    public var model: String = ""
    /// The provider id and credential id of the last attempt ("" when none was made).
    public var provider: String = ""
    public var credential: String = ""
    /// The status the client got (200 for a stream that started).
    public var status: Int = 0
    public var stream: Bool = false
    /// Nanoseconds (monotonic): request start, end.
    public var started: UInt64
    public var ended: UInt64 = 0
    /// Time spent waiting for the upstream: until its response head, and in
    /// all (nil when no upstream was called).
    public var upstreamFirstByte: UInt64? = nil
    public var upstreamTotal: UInt64 = 0
    /// The proxy's own work: reading and decoding the client's body (`parse`),
    /// running rules on the request and the answer (`translate`).
    public var parse: UInt64 = 0
    public var translate: UInt64 = 0
    /// Tokens, when the upstream reported them.
    public var usage: TokenUsage? = nil

    /// Wall time of the whole request.
    public var total: UInt64 { ended >= started ? ended - started : 0 }
    /// What the proxy added beyond parse and translate: routing, copying,
    /// writing to the client.
    public var relay: UInt64 {
        let accounted = parse + translate + upstreamTotal
        return total > accounted ? total - accounted : 0
    }
}

/// Where finished requests go (metrics, usage statistics). Called once per
/// request, off the client's critical path where it matters (after the last
/// byte of a stream); implementations must not block.
public protocol RequestObserver: Sendable {
    func requestFinished(_ report: RequestReport)
    /// Whether this observer needs token counts: an answer that reached the
    /// client untranslated is then decoded afterwards to read them.
    var wantsTokens: Bool { get }
    /// A stream's response began / ended (for an active-streams gauge).
    func streamOpened()
    func streamClosed()
}

extension RequestObserver {
    public var wantsTokens: Bool { false }
    public func streamOpened() {}
    public func streamClosed() {}
}

/// The report of one request while it runs: each step adds what it knows,
/// and `finish` hands it to the observers exactly once. A stream's response
/// is returned before it ends, so the relay finishes its report itself and
/// the request path leaves it alone (`deferred`; likewise a reply whose
/// tokens are read after it was sent).
final class ReportBox: Sendable {
    private let state: Mutex<(report: RequestReport, deferred: Bool, done: Bool)>
    private let observers: [any RequestObserver]

    let wantsTokens: Bool

    init(dialect: String, endpoint: String, request: Request, observers: [any RequestObserver]) {
        // The key's label (a hash per request) only for usage statistics,
        // the observer that wants tokens; metrics never read it.
        wantsTokens = observers.contains { $0.wantsTokens }
        let key = wantsTokens ? UsageRecord.label(forKey: ClientAuth.presentedKeys(request).first ?? "") : ""
        state = Mutex((RequestReport(dialect: dialect, endpoint: endpoint, clientKey: key, started: Clock.nanoseconds()), false, false))
        self.observers = observers
    }

    /// Whether anyone listens; without observers the steps skip their clock reads.
    var isObserved: Bool { !observers.isEmpty }

    /// Now (monotonic ns), or 0 when nobody observes.
    func clock() -> UInt64 { isObserved ? Clock.nanoseconds() : 0 }

    /// Adds the time since `start` to the rules' share.
    func addTranslate(since start: UInt64) {
        guard isObserved else { return }
        let now = Clock.nanoseconds()
        state.withLock { $0.report.translate += now - start }
    }

    /// The upstream answered (its head, or with `ended` its whole body) for
    /// a call sent at `sent`. The first answer of the request is its TTFB.
    func upstreamAnswered(since sent: UInt64, ended: Bool) {
        guard isObserved else { return }
        let elapsed = Clock.nanoseconds() - sent
        state.withLock { s in
            if s.report.upstreamFirstByte == nil { s.report.upstreamFirstByte = elapsed }
            if ended { s.report.upstreamTotal += elapsed }
        }
    }

    /// The upstream's stream ended; the time spent translating its events
    /// meanwhile (`translating`) is the proxy's, not the upstream's.
    func upstreamEnded(since sent: UInt64, excluding translating: UInt64) {
        guard isObserved else { return }
        let elapsed = Clock.nanoseconds() - sent
        state.withLock { $0.report.upstreamTotal += elapsed > translating ? elapsed - translating : 0 }
    }

    /// Takes the tokens the rules saw on their way through `bound`. A reply
    /// that went to the client untranslated (`untranslated`) is decoded
    /// afterwards, off the client's path, when an observer wants tokens; the
    /// report is then finished by that task.
    func tokens(from bound: Exchange, untranslated: [UInt8]?) {
        guard isObserved else { return }
        if let usage = bound.usage { state.withLock { $0.report.usage = usage } }
        guard let body = untranslated, wantsTokens else { return }
        state.withLock { $0.deferred = true }
        Task { [self] in
            let usage = await bound.measure(response: body)
            finish(status: 200, usage: usage)
        }
    }

    func update(_ body: (inout RequestReport) -> Void) {
        guard isObserved else { return }
        state.withLock { body(&$0.report) }
    }

    /// The relay will finish this report when the stream ends.
    func streamStarted() {
        state.withLock { $0.deferred = true }
        for o in observers { o.streamOpened() }
    }

    /// The stream's response ended (written out, or the client went away).
    func streamEnded(status: Int, usage: TokenUsage?) {
        for o in observers { o.streamClosed() }
        finish(status: status, usage: usage)
    }

    /// Finishes the request unless a stream took it over.
    func finishUnlessStreaming(status: Int) {
        guard !state.withLock({ $0.deferred }) else { return }
        finish(status: status)
    }

    /// Hands the report to the observers (the first call wins).
    func finish(status: Int, usage: TokenUsage? = nil) {
        guard isObserved else { return }
        let report: RequestReport? = state.withLock { s in
            guard !s.done else { return nil }
            s.done = true
            s.report.status = status
            s.report.ended = Clock.nanoseconds()
            if let usage { s.report.usage = usage }
            return s.report
        }
        guard let report else { return }
        for o in observers { o.requestFinished(report) }
    }
}
