import CJQ

/// What the rules may know about a request (`$ctx` in `Rules/README.md`).
/// Fixtures pin every field, so outputs are byte-stable.
public struct TranslationContext: Sendable {
    public var model: String
    public var clientModel: String?
    public var stream: Bool
    public var requestID: String
    public var created: Int
    public var idSeed: String
    /// The account serving the request: its non-secret fields (`$ctx.account`,
    /// e.g. a Code Assist project), for provider patches.
    public var account: [String: String] = [:]
    /// Client request headers the provider forwards (`$ctx.headers`, names in
    /// lower case), for provider patches that merge them.
    public var headers: [String: String] = [:]
    /// A reasoning override as JSON object text (`$ctx.reasoning`): from a
    /// model alias such as `gpt-5-minimal`; `lib/overrides.jq` applies it to
    /// the IR before encoding.
    public var reasoning: String? = nil

    public init(model: String, clientModel: String? = nil, stream: Bool = false, requestID: String, created: Int, idSeed: String) {
        self.model = model; self.clientModel = clientModel; self.stream = stream
        self.requestID = requestID; self.created = created; self.idSeed = idSeed
    }

    static func stringObject(_ d: [String: String]) -> jv {
        var o = jv_object()
        for (k, v) in d { o = JV.set(owned: o, k, owned: JV.string(v)) }
        return o
    }

    /// The `$ctx` object (owned), with the client's request when there is one
    /// and the client's dialect (`$ctx.client`, for provider patches whose
    /// choice depends on what the client will read).
    func jvValue(request: jv?, client: String) -> jv {
        var o = jv_object()
        o = JV.set(owned: o, "client", owned: JV.string(client))
        o = JV.set(owned: o, "model", owned: JV.string(model))
        o = JV.set(owned: o, "client_model", owned: clientModel.map(JV.string) ?? jv_null())
        o = JV.set(owned: o, "stream", owned: jv_bool(stream ? 1 : 0))
        o = JV.set(owned: o, "request_id", owned: JV.string(requestID))
        o = JV.set(owned: o, "created", owned: jv_number(Double(created)))
        o = JV.set(owned: o, "id_seed", owned: JV.string(idSeed))
        o = JV.set(owned: o, "request", owned: request.map { jv_copy($0) } ?? jv_null())
        o = JV.set(owned: o, "account", owned: Self.stringObject(account))
        o = JV.set(owned: o, "headers", owned: Self.stringObject(headers))
        let r = reasoning.flatMap { try? JV.parse(Array($0.utf8)) } ?? jv_null()
        o = JV.set(owned: o, "reasoning", owned: JV.isObject(r) ? r : { jv_free(r); return jv_null() }())
        return o
    }
}

/// An HTTP reply produced by the rules: error translations and folded streams.
public struct RuleReply: Sendable, Equatable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]
    public init(status: Int, headers: [(String, String)], body: [UInt8]) { self.status = status; self.headers = headers; self.body = body }
    public static func == (a: RuleReply, b: RuleReply) -> Bool {
        a.status == b.status && a.body == b.body && a.headers.elementsEqual(b.headers, by: { $0 == $1 })
    }
}

/// An upstream request body and the headers a provider patch asked for.
public struct EncodedRequest: Sendable {
    public var body: [UInt8]
    public var headers: [(String, String)]
    public init(body: [UInt8], headers: [(String, String)]) { self.body = body; self.headers = headers }
}

/// What the server needs to know of a decoded request to route it: read
/// from the IR (the IR's own field names, never a dialect's).
public struct RequestSummary: Sendable, Equatable {
    public var model: String?
    public var stream: Bool
    public init(model: String?, stream: Bool) { self.model = model; self.stream = stream }
}

/// An upstream error, decoded into the IR's error shape (`Rules/README.md`).
public struct UpstreamErrorInfo: Sendable, Equatable {
    public var status: Int
    public var type: String
    public var message: String
    public var retryAfter: Double?
    public init(status: Int, type: String, message: String, retryAfter: Double?) {
        self.status = status; self.type = type; self.message = message; self.retryAfter = retryAfter
    }
}

/// The parsed client request and its IR, kept as `jv`s on one worker for the
/// whole exchange (several attempts may encode them for different upstreams).
final class ExchangeValues: Sendable {
    let request: JVCell
    let ir: JVCell
    let usage = UsageCell()
    init(on thread: RuleThread) { request = JVCell(on: thread); ir = JVCell(on: thread) }
}

/// One client request's trip through the rules: its request translation, and
/// later its response, stream or error translation.
///
/// An exchange is pinned to one worker of the rule set it started with, so the
/// client's parsed request (`$ctx.request`), its IR and a stream's fold state
/// stay `jv`s on that worker's thread — never re-parsed, never shared. The
/// server decodes first (to learn the model), then `bound(to:model:)` names
/// the upstream chosen for each attempt.
public final class Exchange: Sendable {
    public let ruleSet: RuleSet
    public let client: String
    public let upstream: String
    public let context: TranslationContext
    /// The provider patch module (`Rules/providers/<patch>.jq`) of the
    /// upstream this exchange is bound to, and the hooks it defines.
    public let patch: String?
    let hooks: Set<String>
    let worker: RuleWorker
    let values: ExchangeValues
    /// `$ctx` (with the client request once known), owned by `worker`'s thread.
    private let ctx: JVCell

    public init(ruleSet: RuleSet, client: String, upstream: String, context: TranslationContext) {
        self.ruleSet = ruleSet
        self.client = client
        self.upstream = upstream
        self.context = context
        self.patch = nil
        self.hooks = []
        self.worker = ruleSet.pickWorker()
        self.values = ExchangeValues(on: worker.thread)
        self.ctx = JVCell(on: worker.thread)
    }

    private init(from other: Exchange, upstream: String, context: TranslationContext, patch: String?) {
        ruleSet = other.ruleSet
        client = other.client
        self.upstream = upstream
        self.context = context
        self.patch = patch
        self.hooks = patch.flatMap { other.ruleSet.source.patches[$0] } ?? []
        worker = other.worker
        values = other.values
        ctx = JVCell(on: other.worker.thread)
    }

    /// The same exchange (worker, parsed request, IR) aimed at `upstream`
    /// with the upstream's model id — one per routing attempt.
    ///
    /// `patch` names the provider's patch module; `account`, `headers` and
    /// `reasoning` fill `$ctx` (see ``TranslationContext``).
    public func bound(to upstream: String, model: String, patch: String? = nil, account: [String: String] = [:],
                      headers: [String: String] = [:], reasoning: String? = nil) -> Exchange {
        var c = context
        c.model = model
        c.account = account
        c.headers = headers
        c.reasoning = reasoning
        return Exchange(from: self, upstream: upstream, context: c, patch: patch)
    }

    /// Whether an upstream stream can reach the client byte for byte: same
    /// dialect, and no provider patch reshaping its events.
    public var relaysVerbatim: Bool { client == upstream && !hooks.contains("event") }

    /// Runs the bound provider's `hook` on `body` (consumed) when its patch
    /// defines it; otherwise returns `body`.
    private func hook(_ programs: Programs, _ hook: String, _ body: jv) throws -> jv {
        guard let patch, hooks.contains(hook) else { return body }
        return try run(programs, upstream, "patch_\(hook):\(patch)", body)
    }

    /// Builds a program's input `{op, ctx, body}` (owned), consuming `body`.
    private func envelope(_ op: String, body: jv) -> jv {
        if jv_get_kind(ctx.value) == JV_KIND_NULL {
            let req = values.request.value
            ctx.replace(owned: context.jvValue(request: jv_get_kind(req) == JV_KIND_NULL ? nil : req, client: client))
        }
        var o = jv_object()
        o = JV.set(owned: o, "op", owned: JV.string(op))
        o = JV.set(owned: o, "ctx", owned: jv_copy(ctx.value))
        return JV.set(owned: o, "body", owned: body)
    }

    /// Runs one definition of one dialect's program; `body` is consumed.
    private func run(_ programs: Programs, _ dialect: String, _ op: String, _ body: jv) throws -> jv {
        try programs.run(dialect, op, owned: envelope(op, body: body))
    }

    /// Keeps the (borrowed) client request for later rules as `$ctx.request`.
    private func remember(request: jv) {
        values.request.replace(owned: jv_copy(request))
        ctx.replace(owned: jv_null())
    }

    private static func parse(_ bytes: [UInt8]) throws -> jv { try JV.parse(bytes) }

    private static func dump(owned v: jv) -> [UInt8] {
        defer { jv_free(v) }
        return JSONWriter.bytes(v)
    }

    // MARK: requests

    /// Client request → upstream request: the client dialect decodes into the
    /// IR, the upstream dialect encodes it (the IR stays a `jv` in between);
    /// within one dialect only `passthrough` runs.
    public func translateRequest(_ body: [UInt8]) async throws -> [UInt8] {
        try await worker.perform { [self] programs in
            let req = try Self.parse(body)
            remember(request: req)
            if client == upstream { return Self.dump(owned: try run(programs, client, "passthrough_request", req)) }
            let ir = try run(programs, client, "decode_request", req)
            return Self.dump(owned: try run(programs, upstream, "encode_request", ir))
        }
    }

    /// Client request → IR request, as JSON (for rule authors and schema checks).
    public func decodeRequest(_ body: [UInt8]) async throws -> [UInt8] {
        try await worker.perform { [self] programs in
            let req = try Self.parse(body)
            remember(request: req)
            return Self.dump(owned: try run(programs, client, "decode_request", req))
        }
    }

    /// Parses and decodes the client's request, keeping both on the worker,
    /// and returns what routing needs. A count-tokens request is decoded by
    /// the dialect's `count::decode_request`.
    public func decode(_ body: [UInt8], countTokens: Bool = false) async throws -> RequestSummary {
        try await worker.perform { [self] programs in
            let req = try Self.parse(body)
            remember(request: req)
            let ir = try run(programs, client, countTokens ? "decode_request_count" : "decode_request", req)
            values.ir.replace(owned: ir)
            let model = JV.get(ir, "model"), stream = JV.get(ir, "stream")
            defer { jv_free(model); jv_free(stream) }
            return RequestSummary(model: JV.text(model), stream: jv_get_kind(stream) == JV_KIND_TRUE)
        }
    }

    /// The upstream body for this exchange's upstream: passthrough within one
    /// dialect, else the upstream's encoder; then the provider's own patch
    /// (`Rules/providers/<patch>.jq`), if any. The client's `body` is parsed
    /// and decoded on first need, in the same job, and kept for later attempts.
    public func encodeRequest(from body: [UInt8]? = nil) async throws -> [UInt8] {
        try await encodeUpstream(from: body).body
    }

    /// Like ``encodeRequest(from:)``, with the headers the provider patch's
    /// `headers` hook adds (run on the encoded body, before `request`).
    /// Within one dialect the request passes through (`passthrough_request`)
    /// unless a reasoning override must be applied, which needs the IR.
    public func encodeUpstream(from body: [UInt8]? = nil) async throws -> EncodedRequest {
        try await worker.perform { [self] programs in
            if jv_get_kind(values.request.value) == JV_KIND_NULL, let body {
                // remember(request:) borrows (it keeps a copy): the parsed value is ours to free
                let req = try Self.parse(body)
                remember(request: req)
                jv_free(req)
            }
            let viaIR = client != upstream || context.reasoning != nil
            if viaIR && jv_get_kind(values.ir.value) == JV_KIND_NULL {
                values.ir.replace(owned: try run(programs, client, "decode_request", jv_copy(values.request.value)))
            }
            var out: jv
            if viaIR {
                out = try run(programs, upstream, "encode_request", jv_copy(values.ir.value))
            } else {
                out = try run(programs, client, "passthrough_request", jv_copy(values.request.value))
            }
            let headers = try headerHook(programs, jv_copy(out))
            out = try hook(programs, "request", out)
            return EncodedRequest(body: Self.dump(owned: out), headers: headers)
        }
    }

    /// A jv object's string values as header pairs (other kinds are written as JSON).
    static func stringPairs(_ v: jv) -> [(String, String)] {
        var out: [(String, String)] = []
        guard JV.isObject(v) else { return out }
        var it = jv_object_iter(v)
        while jv_object_iter_valid(v, it) != 0 {
            let k = jv_object_iter_key(v, it), val = jv_object_iter_value(v, it)
            if let ks = JV.text(k), jv_get_kind(val) != JV_KIND_NULL { out.append((ks, JV.text(val) ?? JSONWriter.string(val))) }
            jv_free(k); jv_free(val)
            it = jv_object_iter_next(v, it)
        }
        return out
    }

    /// Decodes, re-encodes and decodes again within the client's dialect: both
    /// IRs, which must be equal when the IR holds everything the dialect said
    /// (what `rules test` checks for same-dialect cases).
    public func fixpoint(_ body: [UInt8]) async throws -> (first: [UInt8], second: [UInt8]) {
        try await worker.perform { [self] programs in
            let req = try Self.parse(body)
            remember(request: req)
            let ir = try run(programs, client, "decode_request", req)
            let again = try run(programs, client, "encode_request", jv_copy(ir))
            return (Self.dump(owned: ir), Self.dump(owned: try run(programs, client, "decode_request", again)))
        }
    }

    // MARK: responses and errors

    /// Upstream response → client response. Within one dialect the body is
    /// returned as it came.
    public func translateResponse(_ body: [UInt8]) async throws -> [UInt8] {
        if client == upstream && !hooks.contains("response") { return body }
        return try await worker.perform { [self] programs in
            let reply = try hook(programs, "response", try Self.parse(body))
            if client == upstream { return Self.dump(owned: reply) }
            let ir = try run(programs, upstream, "decode_response", reply)
            let u = JV.get(ir, "usage")
            values.usage.set(TokenUsage.from(u))
            jv_free(u)
            return Self.dump(owned: try run(programs, client, "encode_response", ir))
        }
    }

    /// The tokens the upstream reported so far: read from the IR wherever an
    /// answer was translated (a reply, a stream's events, a folded stream).
    /// A same-dialect answer is never decoded on its way; `measure` reads it
    /// afterwards, when someone wants the count.
    public var usage: TokenUsage? { values.usage.current }

    /// Decodes an upstream reply (or, with `events`, a whole stream) only
    /// for its usage — for answers that went to the client untranslated.
    /// Off the client's path: call it after the reply was written.
    public func measure(response body: [UInt8]? = nil, events: [SSEEvent] = []) async -> TokenUsage? {
        try? await worker.perform { [self] programs in
            if let body {
                let ir = try run(programs, upstream, "decode_response", try hook(programs, "response", try Self.parse(body)))
                let u = JV.get(ir, "usage")
                defer { jv_free(ir); jv_free(u) }
                values.usage.set(TokenUsage.from(u))
            } else {
                let upstreamEvents = try hook(programs, "event", SSEWriter.jvEvents(events))
                let d = try run(programs, upstream, "decode_stream", Self.foldInput(state: jv_null(), events: upstreamEvents, final: true))
                let out = JV.get(d, "out")
                defer { jv_free(d); jv_free(out) }
                values.usage.note(events: out)
            }
            return values.usage.current
        }
    }

    /// An upstream error reply → the client's error reply. The rules see
    /// `{status, headers, body}` with header names in lower case (a retry delay
    /// may live in a header); a body that is not JSON (a gateway's HTML page)
    /// reaches them as a string.
    public func translateError(status: Int, headers: [(String, String)] = [], body: [UInt8]) async throws -> RuleReply {
        try await worker.perform { [self] programs in
            let ir = try run(programs, upstream, "decode_error", try hook(programs, "error", Self.errorInput(status: status, headers: headers, body: body)))
            return try Self.reply(run(programs, client, "encode_error", ir))
        }
    }

    /// What an upstream error means, in the IR's terms (type, retry delay),
    /// and the client's reply for it — decoded once.
    public func examineError(status: Int, headers: [(String, String)] = [], body: [UInt8]) async throws -> (UpstreamErrorInfo, RuleReply) {
        try await worker.perform { [self] programs in
            let ir = try run(programs, upstream, "decode_error", try hook(programs, "error", Self.errorInput(status: status, headers: headers, body: body)))
            let info = Self.errorInfo(ir, fallbackStatus: status)
            return (info, try Self.reply(run(programs, client, "encode_error", ir)))
        }
    }

    static func errorInfo(_ ir: jv, fallbackStatus: Int) -> UpstreamErrorInfo {
        let s = JV.get(ir, "status"), t = JV.get(ir, "type"), m = JV.get(ir, "message"), r = JV.get(ir, "retry_after")
        defer { jv_free(s); jv_free(t); jv_free(m); jv_free(r) }
        return UpstreamErrorInfo(status: JV.number(s).map { Int($0) } ?? fallbackStatus, type: JV.text(t) ?? "server",
                                 message: JV.text(m) ?? "", retryAfter: JV.number(r))
    }

    static func errorInput(status: Int, headers: [(String, String)], body: [UInt8]) -> jv {
        var input = jv_object()
        input = JV.set(owned: input, "status", owned: jv_number(Double(status)))
        var hs = jv_object()
        for (k, v) in headers { hs = JV.set(owned: hs, k.lowercased(), owned: JV.string(v)) }
        input = JV.set(owned: input, "headers", owned: hs)
        let parsed = (try? parse(body)) ?? JV.string(bytes: Array(body.prefix(8192)))
        return JV.set(owned: input, "body", owned: parsed)
    }

    /// An IR error (`Rules/README.md`, "Error") → the client's error reply:
    /// how the proxy's own errors reach a client in its dialect.
    public func encodeError(status: Int, type: String, message: String, retryAfter: Int? = nil) async throws -> RuleReply {
        try await worker.perform { [self] programs in
            var e = jv_object()
            e = JV.set(owned: e, "status", owned: jv_number(Double(status)))
            e = JV.set(owned: e, "type", owned: JV.string(type))
            e = JV.set(owned: e, "message", owned: JV.string(message))
            if let retryAfter { e = JV.set(owned: e, "retry_after", owned: jv_number(Double(retryAfter))) }
            return try Self.reply(run(programs, client, "encode_error", e))
        }
    }

    /// The client's in-stream error (an IR `error` event given to a fresh
    /// stream encoder), framed by `t`: for a same-dialect stream, relayed
    /// without being decoded, whose upstream broke after the client's status
    /// was sent.
    func encodeStreamError(_ t: StreamTranslator, status: Int, type: String, message: String) async throws -> [UInt8] {
        try await worker.perform { [self] programs in
            var e = jv_object()
            e = JV.set(owned: e, "status", owned: jv_number(Double(status)))
            e = JV.set(owned: e, "type", owned: JV.string(type))
            e = JV.set(owned: e, "message", owned: JV.string(message))
            var event = jv_object()
            event = JV.set(owned: event, "type", owned: JV.string("error"))
            event = JV.set(owned: event, "error", owned: e)
            let encoded = try run(programs, client, "encode_stream", Self.foldInput(state: jv_null(), events: jv_array_append(jv_array(), event), final: true))
            let out = JV.get(encoded, "out")
            defer { jv_free(encoded); jv_free(out) }
            var bytes: [UInt8] = []
            t.framer.append(events: out, final: true, into: &bytes)
            return bytes
        }
    }

    /// Whether `event`, the last one an upstream stream delivered, ended that
    /// stream (its terminator, or its own error event): the upstream
    /// dialect's decoder, given only that event, stops with it — or, told the
    /// stream is over, reports no error. For same-dialect relays, which do
    /// not decode, when the connection broke after the last event.
    func endsStream(_ event: SSEEvent) async -> Bool {
        (try? await worker.perform { [self] programs -> Bool in
            func decoded(final: Bool) throws -> Set<String> {
                let events = try hook(programs, "event", SSEWriter.jvEvents([event]))
                let d = try run(programs, upstream, "decode_stream", Self.foldInput(state: jv_null(), events: events, final: final))
                let out = JV.get(d, "out")
                defer { jv_free(d); jv_free(out) }
                var types = Set<String>()
                for i in 0..<JV.arrayCount(out) {
                    let e = JV.element(out, i), t = JV.get(e, "type")
                    if let text = JV.text(t) { types.insert(text) }
                    jv_free(t); jv_free(e)
                }
                return types
            }
            let open = try decoded(final: false)
            if open.contains("message_stop") || open.contains("error") { return true }
            return !(try decoded(final: true)).contains("error")
        }) ?? false
    }

    /// A whole upstream stream → one client reply (a non-stream client of a
    /// stream-only upstream): decoded into IR events, folded, encoded.
    public func collect(_ events: [SSEEvent]) async throws -> RuleReply {
        try await worker.perform { [self] programs in
            let upstreamEvents = try hook(programs, "event", SSEWriter.jvEvents(events))
            let decoded = try run(programs, upstream, "decode_stream", Self.foldInput(state: jv_null(), events: upstreamEvents, final: true))
            let irEvents = JV.get(decoded, "out")
            jv_free(decoded)
            values.usage.note(events: irEvents)
            return try Self.reply(run(programs, client, "collect_response", irEvents))
        }
    }

    // MARK: IR views, for schema checks and rule authors

    public func decodeUpstream(response body: [UInt8]) async throws -> [UInt8] {
        try await worker.perform { [self] programs in Self.dump(owned: try run(programs, upstream, "decode_response", try Self.parse(body))) }
    }

    public func decodeUpstream(stream events: [SSEEvent]) async throws -> [UInt8] {
        try await worker.perform { [self] programs in
            let d = try run(programs, upstream, "decode_stream", Self.foldInput(state: jv_null(), events: SSEWriter.jvEvents(events), final: true))
            defer { jv_free(d) }
            return Self.dump(owned: JV.get(d, "out"))
        }
    }

    public func decodeUpstream(status: Int, headers: [(String, String)] = [], error body: [UInt8]) async throws -> [UInt8] {
        try await worker.perform { [self] programs in
            Self.dump(owned: try run(programs, upstream, "decode_error", Self.errorInput(status: status, headers: headers, body: body)))
        }
    }

    // MARK: token counts and model lists

    /// The upstream's count-tokens body for the request kept by `decode`, and
    /// the provider's `headers` hook run on it (an OAuth token needs its beta
    /// header on every call, counting included).
    public func encodeCountRequest() async throws -> EncodedRequest {
        try await worker.perform { [self] programs in
            let body = try hook(programs, "count_request", try run(programs, upstream, "encode_count", jv_copy(values.ir.value)))
            return EncodedRequest(body: Self.dump(owned: jv_copy(body)), headers: try headerHook(programs, body))
        }
    }

    /// The `headers` hook's answer for an upstream body (consumed), as pairs.
    private func headerHook(_ programs: Programs, _ body: jv) throws -> [(String, String)] {
        guard patch != nil && hooks.contains("headers") else { jv_free(body); return [] }
        let h = try hook(programs, "headers", body)
        defer { jv_free(h) }
        return Self.stringPairs(h)
    }

    /// The upstream's count-tokens reply → the client's.
    public func translateCountReply(_ body: [UInt8]) async throws -> [UInt8] {
        try await worker.perform { [self] programs in
            let n = try run(programs, upstream, "decode_count", try hook(programs, "count_reply", try Self.parse(body)))
            return Self.dump(owned: try run(programs, client, "encode_reply_count", n))
        }
    }

    /// A local estimate (`lib/estimate.jq`) in the client's count reply, for
    /// upstreams without a count-tokens operation.
    public func estimateCountReply() async throws -> [UInt8] {
        try await worker.perform { [self] programs in
            let n = try run(programs, client, "estimate_count", jv_copy(values.ir.value))
            return Self.dump(owned: try run(programs, client, "encode_reply_count", n))
        }
    }

    /// A model list (`{models: [ModelInfo]}`, JSON) → the client's list body;
    /// with `one`, a single ModelInfo → the client's single-model body.
    public func renderModels(_ json: [UInt8], one: Bool = false) async throws -> [UInt8] {
        try await worker.perform { [self] programs in
            Self.dump(owned: try run(programs, client, one ? "encode_one_models" : "encode_models", try Self.parse(json)))
        }
    }

    /// Reads `{status, headers, body}` (owned) into a reply.
    static func reply(_ v: jv) throws -> RuleReply {
        defer { jv_free(v) }
        let status = JV.get(v, "status"), headers = JV.get(v, "headers"), body = JV.get(v, "body")
        defer { jv_free(status); jv_free(headers); jv_free(body) }
        guard let code = JV.number(status), code >= 100, code < 600 else {
            throw RuleRuntimeError(rule: "runtime", message: "error rule returned no valid status")
        }
        var hs: [(String, String)] = []
        if JV.isObject(headers) {
            var it = jv_object_iter(headers)
            while jv_object_iter_valid(headers, it) != 0 {
                let k = jv_object_iter_key(headers, it), val = jv_object_iter_value(headers, it)
                if let ks = JV.text(k) { hs.append((ks, JV.text(val) ?? JSONWriter.string(val))) }
                jv_free(k); jv_free(val)
                it = jv_object_iter_next(headers, it)
            }
        }
        return RuleReply(status: Int(code), headers: hs, body: JSONWriter.bytes(body))
    }

    static func foldInput(state: jv, events: jv, final: Bool) -> jv {
        var o = jv_object()
        o = JV.set(owned: o, "state", owned: state)
        o = JV.set(owned: o, "events", owned: events)
        return JV.set(owned: o, "final", owned: jv_bool(final ? 1 : 0))
    }

    // MARK: streams

    /// A stream translator for this exchange's response stream.
    public func streamTranslator(framing: StreamFraming = .sse) -> StreamTranslator {
        StreamTranslator(exchange: self, framing: framing)
    }

    /// Runs one fold step on the pinned worker: the upstream dialect decodes
    /// the batch into IR events, the client dialect encodes those. Each side
    /// keeps its own state as a `jv`. With `peek`, an IR `error` as the first
    /// event of the batch is returned as the client's error reply instead
    /// (the server has not committed a status yet).
    func foldStep(_ t: StreamTranslator, events: [SSEEvent], final: Bool, peek: Bool) async throws -> StreamOutput {
        try await worker.perform { [self] programs in
            let upstreamEvents = try hook(programs, "event", SSEWriter.jvEvents(events))
            if client == upstream {
                // Same dialect behind a patch that reshapes events (an
                // envelope): the patched events are the client's, as they
                // are — a round trip through the IR could only lose detail.
                // The first batch is still decoded, to answer an opening
                // error with a status.
                defer { jv_free(upstreamEvents) }
                if peek, let reply = try openingError(programs, jv_copy(upstreamEvents)) { return reply }
                var bytes: [UInt8] = []
                t.framer.append(events: upstreamEvents, final: final, into: &bytes)
                return .bytes(bytes)
            }
            let d = try run(programs, upstream, "decode_stream", Self.foldInput(state: jv_copy(t.decodeState.value), events: upstreamEvents, final: final))
            t.decodeState.replace(owned: JV.get(d, "state"))
            let irEvents = JV.get(d, "out")
            jv_free(d)
            values.usage.note(events: irEvents)
            if peek, let reply = try Self.openingError(programs, client: client, irEvents: irEvents, run: run) {
                jv_free(irEvents)
                return reply
            }
            if JV.arrayCount(irEvents) == 0 && !final { jv_free(irEvents); return .bytes([]) }
            let e = try run(programs, client, "encode_stream", Self.foldInput(state: jv_copy(t.encodeState.value), events: irEvents, final: final))
            defer { jv_free(e) }
            t.encodeState.replace(owned: JV.get(e, "state"))
            let out = JV.get(e, "out")
            defer { jv_free(out) }
            var bytes: [UInt8] = []
            t.framer.append(events: out, final: final, into: &bytes)
            return .bytes(bytes)
        }
    }

    /// Decodes a first batch (consumed) of a same-dialect patched stream
    /// with a fresh state, only to see whether it opens with an error.
    private func openingError(_ programs: Programs, _ events: jv) throws -> StreamOutput? {
        let d = try run(programs, upstream, "decode_stream", Self.foldInput(state: jv_null(), events: events, final: false))
        let irEvents = JV.get(d, "out")
        jv_free(d)
        defer { jv_free(irEvents) }
        return try Self.openingError(programs, client: client, irEvents: irEvents, run: run)
    }

    /// The client's error reply when the IR events (borrowed) open with an error.
    private static func openingError(_ programs: Programs, client: String, irEvents: jv,
                                     run: (Programs, String, String, jv) throws -> jv) throws -> StreamOutput? {
        guard JV.arrayCount(irEvents) > 0 else { return nil }
        let first = JV.element(irEvents, 0)
        let type = JV.get(first, "type")
        defer { jv_free(first); jv_free(type) }
        guard JV.text(type) == "error" else { return nil }
        let err = JV.get(first, "error")
        return .error(errorInfo(err, fallbackStatus: 502), try reply(run(programs, client, "encode_error", err)))
    }
}

/// How a client's stream is framed on the wire: server-sent events, or a
/// JSON array written element by element (Gemini's `streamGenerateContent`
/// without `alt=sse`). Framing only: the events themselves come from rules.
public enum StreamFraming: Sendable { case sse, jsonArray }

/// The output of a stream step.
public enum StreamOutput: Sendable {
    /// Client bytes to write now (possibly none).
    case bytes([UInt8])
    /// The upstream's stream began with an error: nothing was written yet, so
    /// the server can still answer with this HTTP error (or fail over).
    case error(UpstreamErrorInfo, RuleReply)
}

/// Writes encoded stream events with a framing, remembering what it wrote.
final class StreamFramer: @unchecked Sendable {
    let framing: StreamFraming
    private var opened = false  // JSON array: "[" written
    init(framing: StreamFraming) { self.framing = framing }

    func append(events out: jv, final: Bool, into bytes: inout [UInt8]) {
        switch framing {
        case .sse:
            SSEWriter.append(events: out, into: &bytes)
        case .jsonArray:
            for i in 0..<JV.arrayCount(out) {
                let e = JV.element(out, i)
                let data = JV.get(e, "data")
                bytes.append(contentsOf: opened ? [0x2C, 0x0D, 0x0A] : [0x5B])
                opened = true
                JSONWriter.write(data, into: &bytes)
                jv_free(data); jv_free(e)
            }
            if final { bytes.append(contentsOf: opened ? [0x5D] : [0x5B, 0x5D]); opened = true }
        }
    }
}

/// Translates one upstream stream into the client's stream, event batch by
/// event batch, holding the fold state on the exchange's worker.
public final class StreamTranslator: Sendable {
    let exchange: Exchange
    let decodeState: JVCell
    let encodeState: JVCell
    let framer: StreamFramer
    public var passthrough: Bool { exchange.relaysVerbatim }

    init(exchange: Exchange, framing: StreamFraming) {
        self.exchange = exchange
        self.framer = StreamFramer(framing: framing)
        decodeState = JVCell(on: exchange.worker.thread)
        encodeState = JVCell(on: exchange.worker.thread)
    }

    /// Translates the events that arrived together; returns client bytes
    /// (possibly empty).
    public func translate(_ events: [SSEEvent]) async throws -> [UInt8] {
        if events.isEmpty { return [] }
        guard case .bytes(let b) = try await exchange.foldStep(self, events: events, final: false, peek: false) else { return [] }
        return b
    }

    /// Like `translate`, for the first batch before the client's status is
    /// committed: an upstream error at the very start comes back as `.error`.
    public func translateFirst(_ events: [SSEEvent], final: Bool = false) async throws -> StreamOutput {
        try await exchange.foldStep(self, events: events, final: final, peek: true)
    }

    /// Flushes after the upstream ended: closing events, or the dialect's
    /// error when the upstream stopped without its terminator.
    public func finish() async throws -> [UInt8] {
        guard case .bytes(let b) = try await exchange.foldStep(self, events: [], final: true, peek: false) else { return [] }
        return b
    }

    /// Ends a stream whose upstream broke (a transport error, or an end in
    /// the middle of an event). Translated, `finish` already turns the
    /// missing terminator into the client's error; in the same dialect
    /// nothing decoded the stream, so the client's encoder is handed the IR
    /// error itself.
    /// `last` is the last whole event the upstream sent: when it already
    /// ended the stream, the break came after the end and nothing is added.
    public func fail(_ message: String, after last: SSEEvent?) async throws -> [UInt8] {
        guard exchange.client == exchange.upstream else { return try await finish() }
        if let last, await exchange.endsStream(last) { return [] }
        return try await exchange.encodeStreamError(self, status: 502, type: "server", message: message)
    }
}
