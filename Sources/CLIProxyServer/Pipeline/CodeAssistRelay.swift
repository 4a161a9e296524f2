import Accounts
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import RuleEngine
import UpstreamTransport

/// `POST /v1internal:<method>` for a Gemini CLI on this machine
/// (`CODE_ASSIST_ENDPOINT=http://127.0.0.1:8317`).
///
/// The methods a provider's `relay.pooled` lists (generateContent,
/// streamGenerateContent) are served by the pool of signed-in accounts: the
/// client's envelope keeps its shape, only its project is replaced by the
/// chosen account's and the account's token is used; a 429 cools that account
/// and the next one is tried, a 401 refreshes once. Every other method
/// (loadCodeAssist, onboardUser, countTokens, …) is relayed verbatim, with the
/// client's own headers and token, and answered with the upstream's status and
/// body. Only loopback peers addressing a loopback host are served: the route
/// has no client key check, since the CLI has no way to send one.
struct CodeAssistRelay: Sendable {
    let store: ServerStateStore
    let transport: UpstreamTransport
    let logger: Logger

    static let loopbackHosts: Set<String> = ["127.0.0.1", "localhost", "::1", "[::1]"]

    func handle(_ request: Request, context: ProxyContext) async -> Response {
        let segment = String(request.uri.path.dropFirst())
        guard segment.hasPrefix("v1internal:") else {
            return Self.googleError(404, "NOT_FOUND", "no such endpoint: POST \(request.uri.path); GET / lists the endpoints")
        }
        let method = String(segment.dropFirst("v1internal:".count))
        let host = request.head.authority.map(Self.hostName) ?? ""
        guard context.peerIsLoopback, Self.loopbackHosts.contains(host) else {
            logger.warning("refused /v1internal:\(method) from \(context.remoteAddress?.ipAddress ?? "?") (host \(host)): loopback clients only")
            return Self.googleError(403, "PERMISSION_DENIED", "the Gemini CLI relay serves only clients on this machine (connect to 127.0.0.1)")
        }
        let state = store.state
        guard let (provider, relay) = state.catalog.providers.values.sorted(by: { $0.id < $1.id })
            .compactMap({ p in p.relay.map { (p, $0) } }).first else {
            return Self.googleError(404, "NOT_FOUND", "no provider in the rules offers the Code Assist relay")
        }
        let body: [UInt8]
        do { body = try await Array(buffer: request.body.collect(upTo: state.config.maxBodySize)) } catch {
            return Self.googleError(413, "INVALID_ARGUMENT", "request body too large or unreadable")
        }
        let base = (state.config.upstreams[provider.id]?.baseURL ?? provider.baseURL).trimmingSuffix("/")
        let query = request.uri.query.map { "?" + $0 } ?? ""
        if relay.pooled.contains(method) {
            return await pooled(state: state, provider: provider, relay: relay, method: method, query: query, body: body, stream: method.hasPrefix("stream"))
        }
        return await verbatim(url: base + request.uri.path + query, request: request, body: body, options: state.transportOptions)
    }

    /// The host name of an authority (`127.0.0.1:8317` → `127.0.0.1`, `[::1]:8317` → `[::1]`).
    static func hostName(_ authority: String) -> String {
        if authority.hasPrefix("[") { return String(authority[...(authority.firstIndex(of: "]") ?? authority.startIndex)]) }
        return String(authority.split(separator: ":", maxSplits: 1).first ?? "")
    }

    /// Other methods: the client's request as it came, to the upstream; its
    /// status, content type and body back.
    func verbatim(url: String, request: Request, body: [UInt8], options: TransportOptions) async -> Response {
        let skip: Set<String> = ["host", "content-length", "connection", "transfer-encoding", "accept-encoding"]
        let headers = request.headerPairs.filter { !skip.contains($0.0.lowercased()) }
        do {
            let (head, reply) = try await transport.send(UpstreamRequest(method: "POST", url: url, headers: headers, body: body), options: options)
            var out = HTTPFields()
            out[.contentType] = head.value(of: "content-type") ?? "application/json"
            return Response(status: .init(code: head.status), headers: out, body: .init(byteBuffer: ByteBuffer(bytes: reply)))
        } catch {
            return Self.googleError(502, "UNAVAILABLE", "Code Assist unreachable: \(error)")
        }
    }

    /// generateContent / streamGenerateContent over the pool.
    func pooled(state: ServerState, provider: ProviderSpec, relay: ProviderSpec.Relay, method: String, query: String,
                body: [UInt8], stream: Bool) async -> Response {
        guard let scan = JSONScan(body, keys: [relay.modelKey, relay.projectKey]), scan.isObject,
              let rawModel = scan.string(relay.modelKey), !rawModel.isEmpty else {
            return Self.googleError(400, "INVALID_ARGUMENT", "expected a JSON object with a \"\(relay.modelKey)\" field")
        }
        let model = ModelRouter.normalize(rawModel)
        let health = store.health
        let now = Clock.nanoseconds()
        let candidates = state.router.candidates(for: model).filter { $0.credential.provider.id == provider.id }
        guard !candidates.isEmpty else {
            return Self.googleError(404, "NOT_FOUND", "no signed-in \(provider.id) account serves \(model); run `cliproxy login gemini`")
        }
        let ready = candidates.filter { health.remaining($0.credential, model: $0.upstreamModel, now: now) == 0 }
        guard !ready.isEmpty else {
            let wait = candidates.map { health.remaining($0.credential, model: $0.upstreamModel, now: now) }.min() ?? 0
            let seconds = max(1, Int((Double(wait) / 1e9).rounded(.up)))
            var r = Self.googleError(429, "RESOURCE_EXHAUSTED", "all accounts for \(model) are cooling down; retry in \(seconds) s")
            r.headers[.retryAfter] = String(seconds)
            return r
        }
        var last = Self.googleError(503, "UNAVAILABLE", "no account could serve \(model)")
        for candidate in ready {
            guard case .account(let file) = candidate.credential.source, let accounts = state.accounts else { continue }
            let project = candidate.credential.accountFields[relay.projectField] ?? ""
            let envelope = scan.replacing(relay.projectKey, withString: project) ?? Self.inserting(relay.projectKey, project, into: body)
            var token: String
            do { token = try await accounts.accessToken(for: file) } catch {
                logger.warning("skipping \(candidate.credential.label): \(error)")
                continue
            }
            let url = candidate.credential.baseURL + "/v1internal:" + method + query
            let options = state.transportOptions(for: candidate.credential)
            for pass in 0..<2 {
                let req = UpstreamRequest(method: "POST", url: url,
                                          headers: [("content-type", "application/json"), ("accept", stream ? "text/event-stream" : "application/json"),
                                                    ("user-agent", UpstreamCall.userAgent), ("authorization", "Bearer " + token)],
                                          body: envelope)
                let head: UpstreamHead, upstreamBody: UpstreamBody
                do { (head, upstreamBody) = try await transport.start(req, options: options) } catch {
                    last = Self.googleError(502, "UNAVAILABLE", "Code Assist unreachable: \(error)")
                    break
                }
                if head.status < 300 {
                    health.succeeded(candidate.credential, model: candidate.upstreamModel)
                    return Self.relayBody(head, upstreamBody, stream: stream)
                }
                let reply = (try? await upstreamBody.collect()) ?? []
                last = Self.raw(head, reply)
                if head.status == 401 && pass == 0, let fresh = try? await accounts.refreshAfterRejection(id: file, rejected: token) {
                    token = fresh
                    continue
                }
                if head.status == 429 {
                    let hint = head.value(of: "retry-after").flatMap(Double.init)
                    let wait = health.cool(candidate.credential, model: candidate.upstreamModel, seconds: hint, reason: "rate limited (429)", now: Clock.nanoseconds())
                    logger.info("cooling \(candidate.credential.label) for \(candidate.upstreamModel): \(Int(wait)) s")
                } else if head.status == 401 || head.status == 403 {
                    _ = health.cool(candidate.credential, model: candidate.upstreamModel, seconds: 1800, reason: "refused (\(head.status))", now: Clock.nanoseconds())
                } else if head.status < 500 {
                    return last  // a request error: another account would fail the same way
                }
                break
            }
        }
        return last
    }

    /// The upstream's answer as it came: SSE relayed chunk by chunk.
    static func relayBody(_ head: UpstreamHead, _ body: UpstreamBody, stream: Bool) -> Response {
        var headers = stream ? Replies.streamHeaders(.sse) : HTTPFields()
        if !stream { headers[.contentType] = head.value(of: "content-type") ?? "application/json" }
        let out = ResponseBody { writer in
            defer { body.cancel() }
            do {
                for try await chunk in body { try await writer.write(ByteBuffer(bytes: chunk)) }
            } catch is TransportError {
                // The upstream broke off: the stream simply ends.
            }
            try await writer.finish(nil)
        }
        return Response(status: .init(code: head.status), headers: headers, body: out)
    }

    static func raw(_ head: UpstreamHead, _ body: [UInt8]) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = head.value(of: "content-type") ?? "application/json"
        if let r = head.value(of: "retry-after") { headers[.retryAfter] = r }
        return Response(status: .init(code: head.status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// `{"key":"value",` spliced after the opening brace of a JSON object.
    static func inserting(_ key: String, _ value: String, into body: [UInt8]) -> [UInt8] {
        guard let open = body.firstIndex(of: 0x7B) else { return body }
        var rest = body[(open + 1)...].drop(while: { $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 })
        let empty = rest.first == 0x7D
        if empty { rest = body[(open + 1)...] }
        return Array(body[...open]) + Array(JSONText.string(key).utf8) + [0x3A] + Array(JSONText.string(value).utf8)
            + (empty ? [] : [0x2C]) + Array(rest)
    }

    /// The relay's own errors in Google's shape (the client is the Gemini CLI).
    static func googleError(_ status: Int, _ code: String, _ message: String) -> Response {
        Replies.json(status, Array(#"{"error":{"code":\#(status),"message":\#(JSONText.string(message)),"status":"\#(code)"}}"#.utf8))
    }
}

extension String {
    func trimmingSuffix(_ s: String) -> String { hasSuffix(s) ? String(dropLast(s.count)) : self }
}
