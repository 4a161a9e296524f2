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

    public init(model: String, clientModel: String? = nil, stream: Bool = false, requestID: String, created: Int, idSeed: String) {
        self.model = model; self.clientModel = clientModel; self.stream = stream
        self.requestID = requestID; self.created = created; self.idSeed = idSeed
    }

    /// The `$ctx` object (owned), with the client's request when there is one.
    func jvValue(request: jv?) -> jv {
        var o = jv_object()
        o = JV.set(owned: o, "model", owned: JV.string(model))
        o = JV.set(owned: o, "client_model", owned: clientModel.map(JV.string) ?? jv_null())
        o = JV.set(owned: o, "stream", owned: jv_bool(stream ? 1 : 0))
        o = JV.set(owned: o, "request_id", owned: JV.string(requestID))
        o = JV.set(owned: o, "created", owned: jv_number(Double(created)))
        o = JV.set(owned: o, "id_seed", owned: JV.string(idSeed))
        o = JV.set(owned: o, "request", owned: request.map { jv_copy($0) } ?? jv_null())
        return o
    }
}

/// An HTTP reply produced by the rules: error translations and folded streams.
public struct RuleReply: Sendable, Equatable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]
    public static func == (a: RuleReply, b: RuleReply) -> Bool {
        a.status == b.status && a.body == b.body && a.headers.elementsEqual(b.headers, by: { $0 == $1 })
    }
}

/// One client request's trip through the rules: its request translation, and
/// later its response, stream or error translation.
///
/// An exchange is pinned to one worker of the rule set it started with, so the
/// client's parsed request (`$ctx.request`) and a stream's fold state stay
/// `jv`s on that worker's thread — never re-parsed, never shared.
public final class Exchange: Sendable {
    public let ruleSet: RuleSet
    public let client: String
    public let upstream: String
    public let context: TranslationContext
    let worker: RuleWorker
    /// `$ctx` (with the client request once known), owned by `worker`'s thread.
    private let ctx: JVCell

    public init(ruleSet: RuleSet, client: String, upstream: String, context: TranslationContext) {
        self.ruleSet = ruleSet
        self.client = client
        self.upstream = upstream
        self.context = context
        self.worker = ruleSet.pickWorker()
        self.ctx = JVCell(owned: jv_null())
    }

    deinit {
        // `ctx` is a jv of the worker's thread (libjq's counts are not atomic): release it there.
        let cell = ctx
        worker.submit { _ in cell.replace(owned: jv_null()) }
    }

    /// Builds a program's input `{op, ctx, body}` (owned), consuming `body`.
    private func envelope(_ op: String, body: jv) -> jv {
        if jv_get_kind(ctx.value) == JV_KIND_NULL { ctx.replace(owned: context.jvValue(request: nil)) }
        var o = jv_object()
        o = JV.set(owned: o, "op", owned: JV.string(op))
        o = JV.set(owned: o, "ctx", owned: jv_copy(ctx.value))
        return JV.set(owned: o, "body", owned: body)
    }

    /// Runs one definition of one dialect's program; `body` is consumed.
    private func run(_ programs: Programs, _ dialect: String, _ op: String, _ body: jv) throws -> jv {
        try programs.run(dialect, owned: envelope(op, body: body))
    }

    /// Keeps the (borrowed) client request for later rules as `$ctx.request`.
    private func remember(request: jv) {
        ctx.replace(owned: context.jvValue(request: request))
    }

    private static func parse(_ bytes: [UInt8]) throws -> jv { try JV.parse(bytes) }

    private static func dump(owned v: jv) -> [UInt8] {
        defer { jv_free(v) }
        return JSONWriter.bytes(v)
    }

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

    /// Client request → IR request (what the server routes on).
    public func decodeRequest(_ body: [UInt8]) async throws -> [UInt8] {
        try await worker.perform { [self] programs in
            let req = try Self.parse(body)
            remember(request: req)
            return Self.dump(owned: try run(programs, client, "decode_request", req))
        }
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

    /// The IR of an upstream response, stream (all events, ended) or error
    /// reply, in the upstream's dialect — for schema checks and rule authors.
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

    static func errorInput(status: Int, headers: [(String, String)], body: [UInt8]) -> jv {
        var input = jv_object()
        input = JV.set(owned: input, "status", owned: jv_number(Double(status)))
        var hs = jv_object()
        for (k, v) in headers { hs = JV.set(owned: hs, k.lowercased(), owned: JV.string(v)) }
        input = JV.set(owned: input, "headers", owned: hs)
        let parsed = (try? parse(body)) ?? JV.string(bytes: Array(body.prefix(8192)))
        return JV.set(owned: input, "body", owned: parsed)
    }

    /// Upstream response → client response. Within one dialect the body is
    /// returned as it came.
    public func translateResponse(_ body: [UInt8]) async throws -> [UInt8] {
        if client == upstream { return body }
        return try await worker.perform { [self] programs in
            let ir = try run(programs, upstream, "decode_response", try Self.parse(body))
            return Self.dump(owned: try run(programs, client, "encode_response", ir))
        }
    }

    /// An upstream error reply → the client's error reply. The rules see
    /// `{status, headers, body}` with header names in lower case (a retry delay
    /// may live in a header); a body that is not JSON (a gateway's HTML page)
    /// reaches them as a string.
    public func translateError(status: Int, headers: [(String, String)] = [], body: [UInt8]) async throws -> RuleReply {
        try await worker.perform { [self] programs in
            let input = Self.errorInput(status: status, headers: headers, body: body)
            let ir = try run(programs, upstream, "decode_error", input)
            return try Self.reply(run(programs, client, "encode_error", ir))
        }
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

    /// A whole upstream stream → one client reply (a non-stream client of a
    /// stream-only upstream): decoded into IR events, folded, encoded.
    public func collect(_ events: [SSEEvent]) async throws -> RuleReply {
        try await worker.perform { [self] programs in
            let decoded = try run(programs, upstream, "decode_stream", Self.foldInput(state: jv_null(), events: SSEWriter.jvEvents(events), final: true))
            let irEvents = JV.get(decoded, "out")
            jv_free(decoded)
            return try Self.reply(run(programs, client, "collect_response", irEvents))
        }
    }

    static func foldInput(state: jv, events: jv, final: Bool) -> jv {
        var o = jv_object()
        o = JV.set(owned: o, "state", owned: state)
        o = JV.set(owned: o, "events", owned: events)
        return JV.set(owned: o, "final", owned: jv_bool(final ? 1 : 0))
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

    /// A stream translator for this exchange's response stream.
    public func streamTranslator() -> StreamTranslator { StreamTranslator(exchange: self) }

    /// Runs one fold step on the pinned worker: the upstream dialect decodes
    /// the batch into IR events, the client dialect encodes those. Each side
    /// keeps its own state (`decodeState`, `encodeState`) as a `jv`.
    func foldStep(decodeState: JVCell, encodeState: JVCell, events: [SSEEvent], final: Bool) async throws -> [UInt8] {
        try await worker.perform { [self] programs in
            let d = try run(programs, upstream, "decode_stream", Self.foldInput(state: jv_copy(decodeState.value), events: SSEWriter.jvEvents(events), final: final))
            decodeState.replace(owned: JV.get(d, "state"))
            let irEvents = JV.get(d, "out")
            jv_free(d)
            if JV.arrayCount(irEvents) == 0 && !final { jv_free(irEvents); return [] }
            let e = try run(programs, client, "encode_stream", Self.foldInput(state: jv_copy(encodeState.value), events: irEvents, final: final))
            defer { jv_free(e) }
            encodeState.replace(owned: JV.get(e, "state"))
            let out = JV.get(e, "out")
            defer { jv_free(out) }
            var bytes: [UInt8] = []
            SSEWriter.append(events: out, into: &bytes)
            return bytes
        }
    }
}

/// Translates one upstream stream into the client's stream, event batch by
/// event batch, holding the fold state on the exchange's worker.
public final class StreamTranslator: Sendable {
    let exchange: Exchange
    private let decodeState = JVCell(owned: jv_null())
    private let encodeState = JVCell(owned: jv_null())
    public var passthrough: Bool { exchange.client == exchange.upstream }

    init(exchange: Exchange) { self.exchange = exchange }

    /// Translates the events that arrived together; returns client SSE bytes
    /// (possibly empty).
    public func translate(_ events: [SSEEvent]) async throws -> [UInt8] {
        if events.isEmpty { return [] }
        return try await exchange.foldStep(decodeState: decodeState, encodeState: encodeState, events: events, final: false)
    }

    /// Flushes after the upstream ended: closing events, or the dialect's
    /// error when the upstream stopped without its terminator.
    public func finish() async throws -> [UInt8] {
        try await exchange.foldStep(decodeState: decodeState, encodeState: encodeState, events: [], final: true)
    }

    deinit {
        // The state is a jv of the worker's thread: release it there.
        let cells = (decodeState, encodeState)
        exchange.worker.submit { _ in cells.0.replace(owned: jv_null()); cells.1.replace(owned: jv_null()) }
    }
}
