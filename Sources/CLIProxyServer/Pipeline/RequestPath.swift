import Accounts
import Hummingbird
import Logging
import ProxyConfig
import RuleEngine
import UpstreamTransport

/// The one path every model request takes:
/// authenticate → read the body → decode it (client dialect → IR) → pick a
/// credential → encode for that upstream → call it → translate the answer,
/// or the stream batch by batch → reply. Failover and retries loop over the
/// middle steps, only while nothing has reached the client yet.
struct RequestPath: Sendable {
    let store: ServerStateStore
    let transport: UpstreamTransport
    let logger: Logger
    let requestLog: RequestLog
    /// Told about every finished request (metrics, usage statistics).
    var observers: [any RequestObserver] = []

    /// What kind of call a client made, beyond its dialect.
    enum Call: Sendable { case generate, countTokens }

    func handle(_ request: Request, endpoint: Endpoint, call: Call, pathModel: String? = nil, streamAction: Bool? = nil,
                framing: StreamFraming = .sse) async -> Response {
        let report = ReportBox(dialect: endpoint.dialect, endpoint: endpoint.path, request: request, observers: observers)
        let (response, log) = await process(request, endpoint: endpoint, call: call, pathModel: pathModel, streamAction: streamAction,
                                            framing: framing, report: report)
        report.finishUnlessStreaming(status: Int(response.status.code))
        if let log { requestLog.finish(log, status: Int(response.status.code)) }
        return response
    }

    /// The request's way from its bytes to the reply; also the exchange's log
    /// entry once there is one (requests refused before their body was read
    /// have none).
    func process(_ request: Request, endpoint: Endpoint, call: Call, pathModel: String?, streamAction: Bool?,
                 framing: StreamFraming, report: ReportBox) async -> (Response, RequestLog.Entry?) {
        let state = store.state
        let replies = Replies(rules: state.rules, dialect: endpoint.dialect)
        if let denied = await ClientAuth.check(request, keys: state.config.apiKeys, replies: replies) { return (denied, nil) }
        if let wrong = await BodyReader.checkContentType(request, replies: replies) { return (wrong, nil) }
        let body: [UInt8]
        switch await BodyReader.read(request, limit: state.config.maxBodySize) {
        case .success(let b): body = b
        case .failure(let reply): return (await replies.error(reply.status, reply.type, reply.message), nil)
        }

        let context = TranslationContext(model: "", clientModel: pathModel.map(ModelRouter.normalize), stream: streamAction ?? false,
                                         requestID: RequestIDs.make(), created: Clock.unixSeconds(), idSeed: RequestIDs.seed())
        let exchange = Exchange(ruleSet: state.rules, client: endpoint.dialect, upstream: endpoint.dialect, context: context)
        let log = requestLog.begin(id: context.requestID, endpoint: endpoint.path, clientBody: body, clientHeaders: request.headerPairs)
        // The model and stream flag: from one scan of the bytes when the
        // dialect says where they are (no parse, no rules — enough to route,
        // and all a same-dialect passthrough needs), else from the decoder.
        let keys = state.rules.source.passthroughKeys[endpoint.dialect]
        let scan = keys.flatMap { k in JSONScan(body, keys: Set([k.model, k.stream].compactMap { $0 })) }.flatMap { $0.isObject ? $0 : nil }
        let summary: RequestSummary
        do {
            if let keys, let scan, call == .generate {
                summary = RequestSummary(model: keys.model.flatMap(scan.string), stream: keys.stream.flatMap(scan.bool) ?? false)
            } else {
                summary = try await exchange.decode(body, countTokens: call == .countTokens)
            }
        } catch let e as RuleInputError {
            return (await replies.error(400, "invalid_request", e.description), log)
        } catch let e as RuleRuntimeError {
            return (await replies.error(400, "invalid_request", e.message), log)
        } catch {
            return (await replies.error(400, "invalid_request", "\(error)"), log)
        }
        guard let raw = summary.model ?? pathModel, !raw.isEmpty else {
            return (await replies.error(400, "invalid_request", "model: field required"), log)
        }
        let model = ModelRouter.normalize(raw)
        report.update { $0.model = model; $0.parse = Clock.nanoseconds() - $0.started }
        let candidates = state.router.candidates(for: model)
        guard !candidates.isEmpty else {
            if state.router.isKnown(model) {
                return (await replies.error(403, "permission", "no credentials for model \(model); run `cliproxy login …` or add a key to \(state.configPath)"), log)
            }
            let close = state.router.suggestions(for: model)
            return (await replies.error(404, "not_found",
                "model \(model) is not served here; GET /v1/models lists the models available" + (close.isEmpty ? "" : " (did you mean \(close.joined(separator: ", "))?)")), log)
        }
        let stream = streamAction ?? summary.stream
        report.update { $0.stream = stream }
        let attempt = Attempts(path: self, state: state, exchange: exchange, replies: replies, model: model, stream: stream,
                               call: call, framing: framing, clientHeaders: request.headerPairs, log: log,
                               clientBody: body, scan: scan, modelKey: keys?.model, report: report)
        return (await attempt.run(candidates), log)
    }
}

/// The failover loop of one request.
struct Attempts: Sendable {
    let path: RequestPath
    let state: ServerState
    let exchange: Exchange
    let replies: Replies
    let model: String
    let stream: Bool
    let call: RequestPath.Call
    let framing: StreamFraming
    let clientHeaders: [(String, String)]
    let log: RequestLog.Entry?
    let clientBody: [UInt8]
    /// The client body's scan, when the dialect supports the passthrough fast path.
    let scan: JSONScan?
    let modelKey: String?
    let report: ReportBox

    var health: CredentialHealth { path.store.health }
    var logger: Logger { path.logger }

    enum Outcome {
        case done(Response)
        /// The upstream answered with an error before anything reached the client.
        case upstreamError(status: Int, info: UpstreamErrorInfo, reply: RuleReply)
        /// The upstream could not be reached, or broke before its first event.
        case unreachable(String)
        /// The credential cannot be used now (an account whose token could not
        /// be refreshed); the account store retries it on its own schedule.
        case unavailable(String)
    }

    func run(_ all: [Candidate]) async -> Response {
        let now = Clock.nanoseconds()
        var queue = all.filter { health.remaining($0.credential, model: $0.upstreamModel, now: now) == 0 }
        if queue.isEmpty { return await allCooling(all, now: now) }
        var retries = state.config.requestRetry
        var tried = Set<String>()
        var last: Response? = nil
        var n = 0
        while !queue.isEmpty {
            let candidate = queue.removeFirst()
            n += 1
            tried.insert(candidate.credential.id + "|" + candidate.upstreamModel)
            if state.config.debug {
                logger.info("route \(model) → \(candidate.credential.label) (\(candidate.credential.provider.dialect), model \(candidate.upstreamModel)), attempt \(n)")
            }
            switch await attempt(candidate) {
            case .done(let response):
                health.succeeded(candidate.credential, model: candidate.upstreamModel)
                return response
            case .unavailable(let why):
                logger.warning("skipping \(candidate.credential.label): \(why)")
                last = await replies.error(503, "server", "no usable credential for model \(model): \(why)")
            case .unreachable(let why):
                logger.warning("upstream \(candidate.credential.label) unreachable: \(why)")
                last = await replies.error(502, "server", "upstream \(candidate.credential.provider.id) unreachable: \(why)")
                if retries > 0 && queue.isEmpty { retries -= 1; queue.append(candidate) }
            case .upstreamError(let status, let info, let reply):
                logger.info("upstream \(candidate.credential.label) answered \(status) (\(info.type))")
                last = Replies.response(reply)
                if status == 429 || info.type == "rate_limit" || info.type == "quota" {
                    // Quota on this credential for this model: cool the pair, then
                    // try a preview model on the same account (switch-preview-model)
                    // or another account (switch-project).
                    let wait = health.cool(candidate.credential, model: candidate.upstreamModel, seconds: info.retryAfter,
                                           reason: "rate limited (\(status))", now: Clock.nanoseconds())
                    logger.info("cooling \(candidate.credential.label) for \(candidate.upstreamModel): \(Int(wait)) s")
                    if state.config.quotaExceeded.switchPreviewModel {
                        let now = Clock.nanoseconds()
                        let previews = (candidate.credential.provider.previewFallback[candidate.upstreamModel] ?? [])
                            .map { Candidate(credential: candidate.credential, upstreamModel: $0, reasoning: candidate.reasoning) }
                            .filter { !tried.contains($0.credential.id + "|" + $0.upstreamModel) && health.remaining($0.credential, model: $0.upstreamModel, now: now) == 0 }
                        if let next = previews.first {
                            logger.info("switch-preview-model: \(candidate.upstreamModel) → \(next.upstreamModel) on \(candidate.credential.label)")
                            queue.insert(next, at: 0)
                            continue
                        }
                    }
                    if !state.config.quotaExceeded.switchProject { return last! }
                } else if status == 401 || status == 402 || (status == 403 && info.type == "authentication") {
                    // Refused even after a refresh (accounts): cool it for 30 minutes.
                    _ = health.cool(candidate.credential, model: candidate.upstreamModel, seconds: 1800, reason: "refused (\(status))", now: Clock.nanoseconds())
                } else if [403, 408, 500, 502, 503, 504].contains(status) && retries > 0 {
                    retries -= 1
                    queue.append(candidate)
                } else if ![403, 408, 500, 502, 503, 504, 529].contains(status) {
                    // A request error: another credential would fail the same way.
                    return last!
                }
            }
        }
        if let last { return last }
        return await replies.error(502, "server", "no upstream answered")
    }

    /// Every candidate is cooling down: 429 with the shortest wait, and a log
    /// line saying which credentials cool until when.
    func allCooling(_ all: [Candidate], now: UInt64) async -> Response {
        let waits = all.map { ($0, health.remaining($0.credential, model: $0.upstreamModel, now: now)) }
        let wait = waits.map(\.1).min() ?? 0
        let seconds = max(1, Int((Double(wait) / 1e9).rounded(.up)))
        let nowUnix = Clock.unixSeconds()
        let detail = waits.map { c, w in
            "\(c.credential.label) until \(Self.clock(nowUnix + Int((Double(w) / 1e9).rounded(.up))))"
        }.joined(separator: ", ")
        logger.info("every credential for \(model) is cooling down: \(detail)")
        return await replies.error(429, "rate_limit",
            "all credentials for model \(model) are cooling down after rate limits; retry in \(seconds) s", retryAfter: seconds)
    }

    /// `HH:MM:SS` UTC of a Unix time, for log lines.
    static func clock(_ t: Int) -> String {
        let d = ((t % 86400) + 86400) % 86400
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(two(d / 3600)):\(two(d / 60 % 60)):\(two(d % 60))Z"
    }

    /// The secret for one call: an API key, or the account's access token
    /// (refreshed first when it is near expiry).
    func credentialSecret(_ credential: Credential) async -> Result<String, AccountError> {
        switch credential.source {
        case .key(let k): return .success(k.revealed)
        case .account(let file):
            guard let accounts = state.accounts else { return .failure(AccountError(account: file, reason: "no account store")) }
            do { return .success(try await accounts.accessToken(for: file)) } catch { return .failure(error) }
        }
    }

    /// One try against one candidate; for accounts, a 401 is answered by one
    /// refresh and one more try with the new token.
    func attempt(_ candidate: Candidate) async -> Outcome {
        let credential = candidate.credential
        let provider = credential.provider
        let secret: String
        switch await credentialSecret(credential) {
        case .success(let s): secret = s
        case .failure(let e): return .unavailable(e.description)
        }
        let bound = exchange.bound(to: provider.dialect, model: candidate.upstreamModel, patch: provider.patch,
                                   account: credential.accountFields, headers: forwarded(provider), reasoning: candidate.reasoning)
        report.update { $0.provider = provider.id; $0.credential = credential.id }
        if call == .countTokens { return await countTokens(candidate, bound, secret: secret) }
        let encoded: EncodedRequest
        let translateStart = report.clock()
        do {
            if provider.dialect == exchange.client, provider.patch == nil, candidate.reasoning == nil, let scan {
                // Same dialect: the client's own bytes, with the upstream's model
                // name spliced in when an alias differs from it.
                if let key = modelKey, scan.string(key) != candidate.upstreamModel,
                   let spliced = scan.replacing(key, withString: candidate.upstreamModel) {
                    encoded = EncodedRequest(body: spliced, headers: [])
                } else {
                    encoded = EncodedRequest(body: clientBody, headers: [])
                }
            } else {
                encoded = try await bound.encodeUpstream(from: clientBody)
            }
        } catch let e as RuleInputError {
            return .done(await replies.error(400, "invalid_request", e.description))
        } catch let e as RuleRuntimeError {
            return .done(await replies.error(400, "invalid_request", e.message))
        } catch {
            return .done(await replies.error(500, "server", "\(error)"))
        }
        report.addTranslate(since: translateStart)
        let outcome = await send(candidate, bound, encoded, secret: secret)
        guard case .upstreamError(401, _, _) = outcome, case .account(let file) = credential.source, let accounts = state.accounts else {
            return outcome
        }
        logger.info("\(credential.label) answered 401: refreshing its token and trying once more")
        do {
            let fresh = try await accounts.refreshAfterRejection(id: file, rejected: secret)
            return await send(candidate, bound, encoded, secret: fresh)
        } catch {
            logger.warning("\(credential.label): \(error)")
            return outcome
        }
    }

    /// Client headers the provider forwards, lower-cased (`$ctx.headers` for patches).
    func forwarded(_ provider: ProviderSpec) -> [String: String] {
        var out: [String: String] = [:]
        for name in provider.forwardHeaders {
            for (k, v) in clientHeaders where k.lowercased() == name.lowercased() { out[name.lowercased()] = v }
        }
        return out
    }

    /// Sends one encoded request and reads the answer: a stream relayed to a
    /// streaming client, a stream folded into one reply for a non-stream
    /// client of a stream-only upstream, or a plain reply.
    func send(_ candidate: Candidate, _ bound: Exchange, _ encoded: EncodedRequest, secret: String) async -> Outcome {
        let provider = candidate.credential.provider
        let upstreamStreams = stream || provider.streamOnly
        guard let request = UpstreamCall.request(candidate, operation: upstreamStreams ? "stream" : "generate", body: encoded.body,
                                                 stream: upstreamStreams, clientHeaders: clientHeaders, secret: secret,
                                                 patchHeaders: encoded.headers) else {
            return .done(await replies.error(500, "server", "provider \(provider.id) has no generate operation"))
        }
        log?.upstreamRequest(request)
        let options = state.transportOptions(for: candidate.credential)
        if stream { return await StreamRelay(attempts: self, bound: bound, options: options).run(request) }
        if upstreamStreams { return await collectStream(request, bound, options: options) }

        let head: UpstreamHead, reply: [UInt8]
        let sent = report.clock()
        do {
            (head, reply) = try await path.transport.send(request, options: options)
        } catch {
            return .unreachable(error.description)
        }
        report.upstreamAnswered(since: sent, ended: true)
        log?.upstreamResponse(status: head.status, body: reply)
        if head.status >= 300 { return await upstreamError(bound, head: head, body: reply) }
        if isErrorBody(reply, dialect: provider.dialect) {
            // A 2xx whose body is the upstream dialect's error: a failure
            // like any other (502: the gateway got a bad answer), never a
            // success with nothing in it.
            return await upstreamError(bound, head: UpstreamHead(status: 502, headers: head.headers), body: reply)
        }
        do {
            let translateStart = report.clock()
            let out = try await bound.translateResponse(reply)
            report.addTranslate(since: translateStart)
            log?.clientResponse(status: 200, body: out)
            report.tokens(from: bound, untranslated: bound.client == bound.upstream ? reply : nil)
            return .done(Replies.json(200, out))
        } catch {
            return .done(await replies.error(502, "server", "the upstream's answer could not be translated: \(error)"))
        }
    }

    /// A non-stream client of a stream-only upstream: read the whole stream,
    /// then fold it into one reply (`lib/collect.jq`). A stream that carries
    /// an error, or ends before its terminator, is an upstream error the loop
    /// can fail over on.
    func collectStream(_ request: UpstreamRequest, _ bound: Exchange, options: TransportOptions) async -> Outcome {
        let head: UpstreamHead, bytes: [UInt8]
        let sent = report.clock()
        do {
            let (h, body) = try await path.transport.start(request, options: options)
            report.upstreamAnswered(since: sent, ended: false)
            head = h
            bytes = try await body.collect()
        } catch {
            return .unreachable(error.description)
        }
        report.upstreamAnswered(since: sent, ended: true)
        log?.upstreamResponse(status: head.status, body: bytes)
        if head.status >= 300 { return await upstreamError(bound, head: head, body: bytes) }
        var parser = SSEParser()
        let events = parser.feed(bytes) + parser.finish()
        do {
            let translateStart = report.clock()
            let reply = try await bound.collect(events)
            report.addTranslate(since: translateStart)
            report.tokens(from: bound, untranslated: nil)
            log?.clientResponse(status: reply.status, body: reply.body)
            if reply.status >= 400 {
                let type = reply.status == 429 ? "rate_limit" : reply.status >= 500 ? "server" : "invalid_request"
                return .upstreamError(status: reply.status, info: UpstreamErrorInfo(status: reply.status, type: type, message: "", retryAfter: nil), reply: reply)
            }
            return .done(Replies.response(reply))
        } catch {
            return .done(await replies.error(502, "server", "the upstream's stream could not be translated: \(error)"))
        }
    }

    /// Whether a reply's top-level `error_key` (`dialect.json`) holds
    /// something other than null.
    func isErrorBody(_ body: [UInt8], dialect: String) -> Bool {
        guard let key = state.rules.source.passthroughKeys[dialect]?.error,
              let scan = JSONScan(body, keys: [key]), scan.isObject, let r = scan.ranges[key] else { return false }
        return body[r.lowerBound] != UInt8(ascii: "n")
    }

    func upstreamError(_ bound: Exchange, head: UpstreamHead, body: [UInt8]) async -> Outcome {
        do {
            let (info, reply) = try await bound.examineError(status: head.status, headers: head.headers, body: body)
            log?.clientResponse(status: reply.status, body: reply.body)
            return .upstreamError(status: info.status, info: info, reply: reply)
        } catch {
            return .done(await replies.error(502, "server", "upstream error \(head.status) could not be translated: \(error)"))
        }
    }

    /// Count tokens: the upstream's count operation when it has one, else a
    /// local estimate (`lib/estimate.jq`).
    func countTokens(_ candidate: Candidate, _ bound: Exchange, secret: String) async -> Outcome {
        do {
            guard candidate.credential.provider.operation("count") != nil else {
                return .done(Replies.json(200, try await bound.estimateCountReply()))
            }
            let encoded = try await bound.encodeCountRequest()
            guard let request = UpstreamCall.request(candidate, operation: "count", body: encoded.body, stream: false, clientHeaders: clientHeaders,
                                                     secret: secret, patchHeaders: encoded.headers) else {
                return .done(Replies.json(200, try await bound.estimateCountReply()))
            }
            let (head, reply): (UpstreamHead, [UInt8])
            do { (head, reply) = try await path.transport.send(request, options: state.transportOptions(for: candidate.credential)) } catch { return .unreachable(error.description) }
            if head.status >= 300 { return await upstreamError(bound, head: head, body: reply) }
            return .done(Replies.json(200, try await bound.translateCountReply(reply)))
        } catch let e as RuleRuntimeError {
            return .done(await replies.error(400, "invalid_request", e.message))
        } catch {
            return .done(await replies.error(500, "server", "\(error)"))
        }
    }
}

/// Request ids and id seeds: random, never derived from anything secret.
/// One generator call per id (each call may be a getrandom system call).
enum RequestIDs {
    static func make() -> String { hex(UInt64.random(in: .min ... .max), digits: 16) + hex(UInt64(UInt32.random(in: .min ... .max)), digits: 8) }
    static func seed() -> String { hex(UInt64(UInt32.random(in: .min ... .max)), digits: 8) }
    static func hex(_ v: UInt64, digits: Int) -> String { String(v, radix: 16).leftPadded(digits) }
}
