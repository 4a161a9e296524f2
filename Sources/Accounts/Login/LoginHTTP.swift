#if canImport(Glibc)
import Glibc
#endif
import UpstreamTransport

/// The HTTP calls of a login, over the project's transport: JSON answers,
/// and failures turned into ``LoginError``s that name the host and say what
/// to try. Secrets the login holds are scrubbed from any text quoted from a
/// provider's answer.
struct LoginHTTP: Sendable {
    let transport: UpstreamTransport
    let options: TransportOptions
    /// The provider id (`gemini-cli`, `codex`, …), for config hints.
    let provider: String

    init(transport: UpstreamTransport, options: TransportOptions, provider: String) {
        self.transport = transport
        var o = options
        // A login must never hang on one request.
        if o.totalTimeout == nil { o.totalTimeout = 60 }
        self.options = o
        self.provider = provider
    }

    /// An answer: status and body parsed as JSON (nil when it is not JSON).
    struct Answer: Sendable {
        var status: Int
        var json: JSONValue?
        var ok: Bool { (200..<300).contains(status) }
    }

    /// Which config key points the call elsewhere, for the network hint.
    enum Endpoint: Sendable {
        case token, device, other
    }

    /// POST a form body.
    func postForm(_ url: String, _ fields: [(String, String)], what: String, endpoint: Endpoint) async throws(LoginError) -> Answer {
        try await send(UpstreamRequest(method: "POST", url: url, headers: [
            ("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "application/json"), ("User-Agent", "cliproxy"),
        ], body: Array(URLQuery.encode(fields).utf8)), what: what, endpoint: endpoint)
    }

    /// POST a JSON body, with an optional Bearer token.
    func postJSON(_ url: String, _ body: JSONValue, bearer: String? = nil, what: String, endpoint: Endpoint) async throws(LoginError) -> Answer {
        var headers = [("Content-Type", "application/json"), ("Accept", "application/json"), ("User-Agent", "cliproxy")]
        if let bearer { headers.append(("Authorization", "Bearer " + bearer)) }
        return try await send(UpstreamRequest(method: "POST", url: url, headers: headers, body: body.compact()), what: what, endpoint: endpoint)
    }

    /// GET with a Bearer token.
    func get(_ url: String, bearer: String, what: String) async throws(LoginError) -> Answer {
        try await send(UpstreamRequest(method: "GET", url: url, headers: [
            ("Accept", "application/json"), ("User-Agent", "cliproxy"), ("Authorization", "Bearer " + bearer),
        ]), what: what, endpoint: .other)
    }

    func send(_ request: UpstreamRequest, what: String, endpoint: Endpoint) async throws(LoginError) -> Answer {
        let head: UpstreamHead, body: [UInt8]
        do {
            (head, body) = try await transport.send(request, options: options)
        } catch {
            if error == .cancelled || Task.isCancelled { throw .cancelled }
            throw networkError(error, url: request.url, what: what, endpoint: endpoint)
        }
        return Answer(status: head.status, json: JSONValue.parse(body))
    }

    func networkError(_ error: TransportError, url: String, what: String, endpoint: Endpoint) -> LoginError {
        var hint = "Check the network connection and `proxy-url` in config.yaml"
        switch endpoint {
        case .token: hint += "; behind a gateway, point `upstreams.\(provider).token-url` at it"
        case .device: hint += "; behind a gateway, point `upstreams.\(provider).device-url` at it"
        case .other: break
        }
        return LoginError(.network, "could not reach \(URLQuery.hostPort(url)) to \(what) (\(error))", suggestion: hint + ".")
    }

    /// The failure of an HTTP error answer: `(HTTP 400: invalid_grant: why)`.
    static func failure(_ answer: Answer, host: String, what: String, secrets: [String],
                        reason: LoginError.Reason = .rejected, suggestion: String) -> LoginError {
        var detail = "HTTP \(answer.status)"
        let (code, text) = errorFields(answer.json)
        if let code { detail += ": " + scrub(code, secrets) }
        if let text { detail += (code == nil ? ": " : " — ") + scrub(text, secrets) }
        return LoginError(reason, "\(host) refused to \(what) (\(detail))", suggestion: suggestion)
    }

    /// An OAuth or Google error: `{"error":"code","error_description":…}` or
    /// `{"error":{"status"|"code":…,"message":…}}`.
    static func errorFields(_ json: JSONValue?) -> (String?, String?) {
        guard let json else { return (nil, nil) }
        if let code = json["error"]?.string {
            return (code, json["error_description"]?.string.map(SignInAnswer.clip))
        }
        if let e = json["error"], e.object != nil {
            let code = e["status"]?.string ?? e["type"]?.string ?? e["code"]?.string ?? e["code"]?.number.map { "\(Int($0))" }
            return (code, e["message"]?.string.map(SignInAnswer.clip))
        }
        return (nil, json["message"]?.string.map(SignInAnswer.clip))
    }

    /// The OAuth `error` code of an answer, if any.
    static func errorCode(_ json: JSONValue?) -> String? { errorFields(json).0 }

    static func scrub(_ text: String, _ secrets: [String]) -> String {
        var t = text
        for s in secrets where s.count >= 6 { t = t.replacing(s, with: "[redacted]") }
        return t
    }
}

/// Time for logins: wall-clock seconds and cancellable waits.
enum LoginClock {
    /// Unix seconds now.
    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Monotonic seconds, for deadlines.
    static func monotonic() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// `300`, `7.5`, `0.3`: seconds for messages.
    static func text(_ seconds: Double) -> String {
        let tenths = (seconds * 10).rounded() / 10
        return tenths.rounded() == tenths ? "\(Int(tenths))" : "\(tenths)"
    }

    /// Waits `seconds`; throws when the login is cancelled.
    static func sleep(_ seconds: Double) async throws(LoginError) {
        if seconds > 0 {
            do { try await Task.sleep(nanoseconds: UInt64(seconds * 1e9)) } catch { throw .cancelled }
        }
        if Task.isCancelled { throw .cancelled }
    }
}
