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

    /// What kind of call a client made, beyond its dialect.
    enum Call: Sendable { case generate, countTokens }

    func handle(_ request: Request, endpoint: Endpoint, call: Call, pathModel: String? = nil, streamAction: Bool? = nil,
                framing: StreamFraming = .sse) async -> Response {
        let state = store.state
        let replies = Replies(rules: state.rules, dialect: endpoint.dialect)
        if let denied = await ClientAuth.check(request, keys: state.config.apiKeys, replies: replies) { return denied }
        if let wrong = await BodyReader.checkContentType(request, replies: replies) { return wrong }
        let body: [UInt8]
        switch await BodyReader.read(request, limit: state.config.maxBodySize) {
        case .success(let b): body = b
        case .failure(let reply): return await replies.error(reply.status, reply.type, reply.message)
        }

        let context = TranslationContext(model: "", clientModel: pathModel.map(ModelRouter.normalize), stream: streamAction ?? false,
                                         requestID: RequestIDs.make(), created: Clock.unixSeconds(), idSeed: RequestIDs.seed())
        let exchange = Exchange(ruleSet: state.rules, client: endpoint.dialect, upstream: endpoint.dialect, context: context)
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
            return await replies.error(400, "invalid_request", e.description)
        } catch let e as RuleRuntimeError {
            return await replies.error(400, "invalid_request", e.message)
        } catch {
            return await replies.error(400, "invalid_request", "\(error)")
        }
        guard let raw = summary.model ?? pathModel, !raw.isEmpty else {
            return await replies.error(400, "invalid_request", "model: field required")
        }
        let model = ModelRouter.normalize(raw)
        let candidates = state.router.candidates(for: model)
        guard !candidates.isEmpty else {
            if state.router.isKnown(model) {
                return await replies.error(403, "permission", "no credentials for model \(model); run `cliproxy login …` or add a key to \(state.configPath)")
            }
            let close = state.router.suggestions(for: model)
            return await replies.error(404, "not_found",
                "model \(model) is not served here; GET /v1/models lists the models available" + (close.isEmpty ? "" : " (did you mean \(close.joined(separator: ", "))?)"))
        }
        let stream = streamAction ?? summary.stream
        let log = requestLog.begin(id: context.requestID, endpoint: endpoint.path, clientBody: body, clientHeaders: request.headerPairs)
        let attempt = Attempts(path: self, state: state, exchange: exchange, replies: replies, model: model, stream: stream,
                               call: call, framing: framing, clientHeaders: request.headerPairs, log: log,
                               clientBody: body, scan: scan, modelKey: keys?.model)
        return await attempt.run(candidates)
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

    var health: CredentialHealth { path.store.health }
    var logger: Logger { path.logger }

    enum Outcome {
        case done(Response)
        /// The upstream answered with an error before anything reached the client.
        case upstreamError(status: Int, info: UpstreamErrorInfo, reply: RuleReply)
        /// The upstream could not be reached, or broke before its first event.
        case unreachable(String)
    }

    func run(_ all: [Candidate]) async -> Response {
        let now = Clock.nanoseconds()
        var queue = all.filter { health.remaining($0.credential, model: model, now: now) == 0 }
        if queue.isEmpty {
            let wait = all.map { health.remaining($0.credential, model: model, now: now) }.min() ?? 0
            let seconds = Int((Double(wait) / 1e9).rounded(.up))
            logger.info("every credential for \(model) is cooling down (\(seconds) s left)")
            return await replies.error(429, "rate_limit",
                "all credentials for model \(model) are cooling down after rate limits; retry in \(seconds) s", retryAfter: seconds)
        }
        var retries = state.config.requestRetry
        var last: Response? = nil
        var n = 0
        while !queue.isEmpty {
            let candidate = queue.removeFirst()
            n += 1
            if state.config.debug {
                logger.info("route \(model) → \(candidate.credential.label) (\(candidate.credential.provider.dialect), model \(candidate.upstreamModel)), attempt \(n)")
            }
            switch await attempt(candidate) {
            case .done(let response):
                health.succeeded(candidate.credential, model: model)
                return response
            case .unreachable(let why):
                logger.warning("upstream \(candidate.credential.label) unreachable: \(why)")
                last = await replies.error(502, "server", "upstream \(candidate.credential.provider.id) unreachable: \(why)")
                if retries > 0 && queue.isEmpty { retries -= 1; queue.append(candidate) }
            case .upstreamError(let status, let info, let reply):
                logger.info("upstream \(candidate.credential.label) answered \(status) (\(info.type))")
                last = Replies.response(reply)
                if status == 429 || info.type == "rate_limit" || info.type == "quota" {
                    // Quota on this credential for this model: cool it and try
                    // another candidate (switch-project semantics).
                    let wait = health.cool(candidate.credential, model: model, seconds: info.retryAfter, reason: "rate limited (\(status))", now: Clock.nanoseconds())
                    logger.info("cooling \(candidate.credential.label) for \(model): \(Int(wait)) s")
                } else if status == 401 || status == 402 || (status == 403 && info.type == "authentication") {
                    // A key the upstream refuses will be refused again: cool it for 30 minutes.
                    _ = health.cool(candidate.credential, model: model, seconds: 1800, reason: "refused (\(status))", now: Clock.nanoseconds())
                } else if [403, 408, 500, 502, 503, 504].contains(status) && retries > 0 {
                    retries -= 1
                    queue.append(candidate)
                } else {
                    return last!
                }
            }
        }
        if let last { return last }
        return await replies.error(502, "server", "no upstream answered")
    }

    /// One try against one candidate.
    func attempt(_ candidate: Candidate) async -> Outcome {
        let provider = candidate.credential.provider
        let bound = exchange.bound(to: provider.dialect, model: candidate.upstreamModel)
        if call == .countTokens { return await countTokens(candidate, bound) }
        let body: [UInt8]
        do {
            if provider.dialect == exchange.client, provider.patch == nil, let scan {
                // Same dialect: the client's own bytes, with the upstream's model
                // name spliced in when an alias differs from it.
                if let key = modelKey, scan.string(key) != candidate.upstreamModel,
                   let spliced = scan.replacing(key, withString: candidate.upstreamModel) {
                    body = spliced
                } else {
                    body = clientBody
                }
            } else {
                body = try await bound.encodeRequest(from: clientBody, patch: provider.patch)
            }
        } catch let e as RuleInputError {
            return .done(await replies.error(400, "invalid_request", e.description))
        } catch let e as RuleRuntimeError {
            return .done(await replies.error(400, "invalid_request", e.message))
        } catch {
            return .done(await replies.error(500, "server", "\(error)"))
        }
        guard let request = UpstreamCall.request(candidate, operation: stream ? "stream" : "generate", body: body, stream: stream,
                                                 clientHeaders: clientHeaders) else {
            return .done(await replies.error(500, "server", "provider \(provider.id) has no generate operation"))
        }
        log?.upstreamRequest(request)
        if stream { return await StreamRelay(attempts: self, bound: bound).run(request) }

        let head: UpstreamHead, reply: [UInt8]
        do {
            (head, reply) = try await path.transport.send(request, options: state.transportOptions)
        } catch {
            return .unreachable(error.description)
        }
        log?.upstreamResponse(status: head.status, body: reply)
        if head.status >= 300 { return await upstreamError(bound, head: head, body: reply) }
        do {
            let out = try await bound.translateResponse(reply)
            log?.clientResponse(status: 200, body: out)
            return .done(Replies.json(200, out))
        } catch {
            return .done(await replies.error(502, "server", "the upstream's answer could not be translated: \(error)"))
        }
    }

    func upstreamError(_ bound: Exchange, head: UpstreamHead, body: [UInt8]) async -> Outcome {
        do {
            let (info, reply) = try await bound.examineError(status: head.status, headers: head.headers, body: body)
            log?.clientResponse(status: reply.status, body: reply.body)
            return .upstreamError(status: head.status, info: info, reply: reply)
        } catch {
            return .done(await replies.error(502, "server", "upstream error \(head.status) could not be translated: \(error)"))
        }
    }

    /// Count tokens: the upstream's count operation when it has one, else a
    /// local estimate (`lib/estimate.jq`).
    func countTokens(_ candidate: Candidate, _ bound: Exchange) async -> Outcome {
        do {
            guard candidate.credential.provider.operation("count") != nil else {
                return .done(Replies.json(200, try await bound.estimateCountReply()))
            }
            let body = try await bound.encodeCountRequest()
            guard let request = UpstreamCall.request(candidate, operation: "count", body: body, stream: false, clientHeaders: clientHeaders) else {
                return .done(Replies.json(200, try await bound.estimateCountReply()))
            }
            let (head, reply): (UpstreamHead, [UInt8])
            do { (head, reply) = try await path.transport.send(request, options: state.transportOptions) } catch { return .unreachable(error.description) }
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
