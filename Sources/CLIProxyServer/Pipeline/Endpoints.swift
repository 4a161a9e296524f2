import HTTPTypes
import Hummingbird
import NIOCore
import RuleEngine

/// A client endpoint: the dialect it speaks and its path (for logs).
struct Endpoint: Sendable {
    var dialect: String
    var path: String
}

/// The route table: every client endpoint, bound to its dialect.
struct Endpoints: Sendable {
    let path: RequestPath
    let models: ModelLists
    let relay: CodeAssistRelay
    let management: ManagementRoutes
    /// What `GET /metrics` renders (and what the request path reports to).
    var metrics: ProxyMetrics = ProxyMetrics()
    var store: ServerStateStore { path.store }

    func register(on router: Router<ProxyContext>) {
        router.get("/") { _, _ in Self.info() }
        router.get("/healthz") { _, _ in Replies.json(200, Array(#"{"status":"ok"}"#.utf8)) }
        // Prometheus text; behind the client API keys when any are set.
        router.get("/metrics") { [store, metrics] req, _ in
            let state = store.state
            if let denied = await ClientAuth.check(req, keys: state.config.apiKeys, replies: Replies(rules: state.rules, dialect: "openai")) {
                return denied
            }
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            headers[.cacheControl] = "no-store"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: metrics.render(store: store))))
        }

        // OpenAI Chat Completions and Responses; the model list is Anthropic's
        // shape when the client says it speaks Anthropic.
        router.get("/v1/models") { [store] req, _ in await models.list(req, dialect: Self.listDialect(req, store.state)) }
        router.get("/v1/models/{id}") { [store] req, ctx in await models.one(req, dialect: Self.listDialect(req, store.state), id: ctx.parameters.get("id") ?? "") }
        post(router, "/v1/chat/completions", "openai") { req, e in await path.handle(req, endpoint: e, call: .generate) }
        post(router, "/v1/responses", "responses") { req, e in await path.handle(req, endpoint: e, call: .generate) }
        post(router, "/v1/responses/input_tokens", "responses") { req, e in await path.handle(req, endpoint: e, call: .countTokens) }

        // Anthropic Messages.
        post(router, "/v1/messages", "claude") { req, e in await path.handle(req, endpoint: e, call: .generate) }
        post(router, "/v1/messages/count_tokens", "claude") { req, e in await path.handle(req, endpoint: e, call: .countTokens) }

        // Gemini: the model and the action share the last path segment.
        router.get("/v1beta/models") { req, _ in await models.list(req, dialect: "gemini") }
        router.get("/v1beta/models/{model}") { req, ctx in await models.one(req, dialect: "gemini", id: ctx.parameters.get("model") ?? "") }
        post(router, "/v1beta/models/{model}", "gemini") { req, e in await gemini(req, e) }

        // A local Gemini CLI's Code Assist calls (`/v1internal:<method>`), loopback only.
        router.post("/{call}") { req, ctx in await relay.handle(req, context: ctx) }

        // The management API (`/v0/management/*`, 404 while no secret-key is set).
        management.register(on: router)
    }

    /// POST handler plus 405s in the endpoint's dialect for other methods.
    func post(_ router: Router<ProxyContext>, _ p: String, _ dialect: String,
              _ handler: @escaping @Sendable (Request, Endpoint) async -> Response) {
        let endpoint = Endpoint(dialect: dialect, path: p)
        router.post(RouterPath(p)) { req, _ in await handler(req, endpoint) }
        for method in [HTTPRequest.Method.get, .put, .patch, .delete] where !(p.hasPrefix("/v1beta/models/") && method == .get) {
            router.on(RouterPath(p), method: method) { [store] req, _ in
                await Replies(rules: store.state.rules, dialect: dialect)
                    .error(405, "invalid_request", "\(req.method) is not allowed on \(p); use POST")
            }
        }
    }

    /// `/v1beta/models/<model>:<action>`: generateContent, streamGenerateContent
    /// (SSE with `alt=sse`, else a JSON array written element by element) or
    /// countTokens.
    func gemini(_ req: Request, _ e: Endpoint) async -> Response {
        let segment = String(req.uri.path.split(separator: "/").last ?? "")
        guard let colon = segment.lastIndex(of: ":") else {
            return await Replies(rules: store.state.rules, dialect: "gemini")
                .error(404, "not_found", "expected /v1beta/models/<model>:<action>, got \(req.uri.path)")
        }
        let model = String(segment[..<colon]).removingPercentEncoding, action = String(segment[segment.index(after: colon)...])
        let alt = req.uri.queryParameters["alt"].map(String.init) ?? req.uri.queryParameters["$alt"].map(String.init)
        switch action {
        case "generateContent":
            return await path.handle(req, endpoint: e, call: .generate, pathModel: model, streamAction: false)
        case "streamGenerateContent":
            return await path.handle(req, endpoint: e, call: .generate, pathModel: model, streamAction: true,
                                     framing: alt == "sse" ? .sse : .jsonArray)
        case "countTokens":
            return await path.handle(req, endpoint: e, call: .countTokens, pathModel: model)
        default:
            return await Replies(rules: store.state.rules, dialect: "gemini").error(404, "not_found", "unknown action \(action)")
        }
    }

    /// `/v1/models` is shared by OpenAI and Anthropic clients: a dialect whose
    /// `dialect.json` names a `client_header` the request carries answers it
    /// (Anthropic's SDKs send `anthropic-version`); else OpenAI's list.
    static func listDialect(_ req: Request, _ state: ServerState) -> String {
        for (dialect, data) in state.rules.source.passthroughKeys.sorted(by: { $0.key < $1.key }) {
            if let h = data.clientHeader, let n = HTTPField.Name(h), req.headers[n] != nil { return dialect }
        }
        return "openai"
    }

    /// `GET /`: who we are and what we serve.
    static func info() -> Response {
        let endpoints = ["GET /v1/models", "POST /v1/chat/completions", "POST /v1/responses", "POST /v1/messages",
                         "POST /v1/messages/count_tokens", "GET /v1beta/models", "GET /v1beta/models/{model}",
                         "POST /v1beta/models/{model}:generateContent", "POST /v1beta/models/{model}:streamGenerateContent",
                         "POST /v1beta/models/{model}:countTokens", "POST /v1internal:{method}", "GET /healthz", "GET /metrics"]
        let body = #"{"name":"\#(CLIProxyInfo.name)","version":"\#(CLIProxyInfo.version)","endpoints":["# + endpoints.map(JSONText.string).joined(separator: ",") + "]}"
        return Replies.json(200, Array(body.utf8))
    }
}

/// Model lists, rendered by each dialect's `models.jq` from the router's view
/// of what can actually be served.
struct ModelLists: Sendable {
    let store: ServerStateStore
    let startedAt = Clock.unixSeconds()

    func infos(_ state: ServerState) -> [(String, String)] { state.router.servedModels().map { ($0.id, $0.ownedBy) } }

    func infoJSON(_ id: String, _ owner: String) -> String {
        #"{"id":\#(JSONText.string(id)),"owned_by":\#(JSONText.string(owner)),"created":\#(startedAt)}"#
    }

    func list(_ req: Request, dialect: String) async -> Response {
        let state = store.state
        let replies = Replies(rules: state.rules, dialect: dialect)
        if let denied = await ClientAuth.check(req, keys: state.config.apiKeys, replies: replies) { return denied }
        let json = #"{"models":["# + infos(state).map { infoJSON($0.0, $0.1) }.joined(separator: ",") + "]}"
        return await render(state, dialect, json, one: false)
    }

    func one(_ req: Request, dialect: String, id raw: String) async -> Response {
        let state = store.state
        let replies = Replies(rules: state.rules, dialect: dialect)
        if let denied = await ClientAuth.check(req, keys: state.config.apiKeys, replies: replies) { return denied }
        let id = ModelRouter.normalize(raw.removingPercentEncoding)
        guard let found = infos(state).first(where: { $0.0 == id }) else {
            return await replies.error(404, "not_found", "model \(id) is not served here; GET /v1/models lists the models available")
        }
        return await render(state, dialect, infoJSON(found.0, found.1), one: true)
    }

    func render(_ state: ServerState, _ dialect: String, _ json: String, one: Bool) async -> Response {
        let ex = Exchange(ruleSet: state.rules, client: dialect, upstream: dialect,
                          context: TranslationContext(model: "", requestID: RequestIDs.make(), created: Clock.unixSeconds(), idSeed: "m"))
        do {
            return Replies.json(200, try await ex.renderModels(Array(json.utf8), one: one))
        } catch {
            return await Replies(rules: state.rules, dialect: dialect).error(500, "server", "the model list could not be rendered: \(error)")
        }
    }
}

/// JSON text for the few values the server writes itself (its own formats:
/// the IR's model list, `GET /`).
enum JSONText {
    static func string(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 { out += "\\u" + String(u.value, radix: 16).leftPadded(4) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }
}

extension String {
    /// `%XX` sequences decoded (model names in paths); invalid ones kept as they are.
    var removingPercentEncoding: String {
        guard contains("%") else { return self }
        var bytes: [UInt8] = []
        var it = Array(utf8)[...]
        while let c = it.first {
            it = it.dropFirst()
            if c == 0x25, it.count >= 2, let v = UInt8(String(decoding: it.prefix(2), as: UTF8.self), radix: 16) {
                bytes.append(v); it = it.dropFirst(2)
            } else { bytes.append(c) }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
