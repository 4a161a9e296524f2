import CJQ

/// One golden case: `Fixtures/<client>-<upstream>/<case>/` (see `Fixtures/README.md`).
/// `upstream` is a dialect, or the name of a provider patch module
/// (`Fixtures/claude-gemini-cli/…`): the provider file naming that patch
/// gives the upstream dialect, and the case runs through the patch's hooks.
public struct FixtureCase: Sendable {
    public var client: String
    public var upstream: String
    public var name: String
    public var dir: String
    public var pair: String { "\(client)-\(upstream)" }
    public var id: String { "\(pair)/\(name)" }
}

/// What running a case found: per file, nothing (a match) or a diff.
public struct FixtureOutcome: Sendable {
    public var fixture: FixtureCase
    public var failures: [(file: String, detail: [String])] = []
    public var updated: [String] = []
    public var passed: Bool { failures.isEmpty }
}

/// Runs golden cases against a rule set — the engine of `cliproxy rules test`.
public struct FixtureSuite: Sendable {
    public let root: String
    let defaults: Defaults

    struct Defaults: Sendable {
        var requestID = "fx01", created = 1782321921, idSeed = "fx"
        var upstreamModel: [String: String] = [:]
        var clientModel: [String: String] = [:]
    }

    public init(root: String) throws(RuleCompileError) {
        self.root = FileSystem.absolute(root)
        guard let bytes = FileSystem.readBytes(self.root + "/defaults.json") else {
            throw RuleCompileError(["\(self.root)/defaults.json not found"])
        }
        defaults = try Self.readDefaults(bytes)
    }

    private static func readDefaults(_ bytes: [UInt8]) throws(RuleCompileError) -> Defaults {
        let v: jv
        do { v = try JV.parse(bytes) } catch { throw RuleCompileError(["defaults.json: \(error)"]) }
        defer { jv_free(v) }
        var d = Defaults()
        let ctx = JV.get(v, "ctx"); defer { jv_free(ctx) }
        if let s = JV.text(JVBorrow(ctx, "request_id").value) { d.requestID = s }
        if let n = JV.number(JVBorrow(ctx, "created").value) { d.created = Int(n) }
        if let s = JV.text(JVBorrow(ctx, "id_seed").value) { d.idSeed = s }
        d.upstreamModel = stringMap(JVBorrow(v, "upstream_model").value)
        d.clientModel = stringMap(JVBorrow(v, "client_model").value)
        return d
    }

    static func stringMap(_ o: jv) -> [String: String] {
        var m: [String: String] = [:]
        guard JV.isObject(o) else { return m }
        var it = jv_object_iter(o)
        while jv_object_iter_valid(o, it) != 0 {
            let k = jv_object_iter_key(o, it), val = jv_object_iter_value(o, it)
            if let ks = JV.text(k), let vs = JV.text(val) { m[ks] = vs }
            jv_free(k); jv_free(val)
            it = jv_object_iter_next(o, it)
        }
        return m
    }

    /// Every case, optionally only those of `filter` (`PAIR` or `PAIR/CASE`).
    public func cases(filter: String? = nil) -> [FixtureCase] {
        var out: [FixtureCase] = []
        for pair in FileSystem.list(root).sorted() where FileSystem.isDirectory(root + "/" + pair) {
            // `<client>-<upstream>`: a dialect name has no `-`, a patch name may (`gemini-cli`).
            guard let dash = pair.firstIndex(of: "-") else { continue }
            let client = String(pair[..<dash]), upstream = String(pair[pair.index(after: dash)...])
            guard !client.isEmpty, !upstream.isEmpty else { continue }
            for name in FileSystem.list(root + "/" + pair).sorted() {
                let dir = root + "/" + pair + "/" + name
                guard FileSystem.exists(dir + "/client_request.json") else { continue }
                let c = FixtureCase(client: client, upstream: upstream, name: name, dir: dir)
                if let f = filter, f != c.pair, f != c.id { continue }
                out.append(c)
            }
        }
        return out
    }

    /// `case.json`: the upstream's status and headers, and `ctx` overrides —
    /// plain fields, plus `account` / `headers` (objects of strings) and
    /// `reasoning` (an object) for provider patches and model aliases.
    /// `count: true` makes the case a count-tokens call.
    struct CaseMeta {
        var upstreamStatus: Int? = nil
        var upstreamHeaders: [(String, String)] = []
        var ctx: [String: String] = [:]
        var created: Int? = nil
        var stream: Bool? = nil
        var account: [String: String] = [:]
        var headers: [String: String] = [:]
        var reasoning: String? = nil
        var count = false
        /// Anything a patch or an alias would put in `$ctx`.
        var binds: Bool { !account.isEmpty || !headers.isEmpty || reasoning != nil }
    }

    func meta(_ c: FixtureCase) throws -> CaseMeta {
        var m = CaseMeta()
        guard let bytes = FileSystem.readBytes(c.dir + "/case.json") else { return m }
        let v = try JV.parse(bytes)
        defer { jv_free(v) }
        if let n = JV.number(JVBorrow(v, "upstream_status").value) { m.upstreamStatus = Int(n) }
        m.upstreamHeaders = Self.stringMap(JVBorrow(v, "upstream_headers").value).sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        let ctx = JV.get(v, "ctx"); defer { jv_free(ctx) }
        m.ctx = Self.stringMap(ctx)
        if let n = JV.number(JVBorrow(ctx, "created").value) { m.created = Int(n) }
        let s = JV.get(ctx, "stream"); defer { jv_free(s) }
        if jv_get_kind(s) == JV_KIND_TRUE { m.stream = true } else if jv_get_kind(s) == JV_KIND_FALSE { m.stream = false }
        m.account = Self.stringMap(JVBorrow(ctx, "account").value)
        m.headers = Dictionary(Self.stringMap(JVBorrow(ctx, "headers").value).map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { a, _ in a })
        let r = JVBorrow(ctx, "reasoning")
        if JV.isObject(r.value) { m.reasoning = JSONWriter.string(r.value) }
        m.count = jv_get_kind(JVBorrow(v, "count").value) == JV_KIND_TRUE
        return m
    }

    /// Where a patch case goes: the provider file naming the patch (in a
    /// top-level `patch`, or in its `account` section, whose fields replace
    /// the top-level ones for account credentials).
    public struct PatchTarget: Sendable, Equatable {
        public var patch: String
        public var provider: String
        public var dialect: String
        public var streamOnly: Bool
    }

    /// The provider that names `patch`, read from the rule set's provider
    /// files; nil when none does.
    public static func patchTarget(_ patch: String, in source: RuleSource) -> PatchTarget? {
        for (rel, text) in source.providerFiles.sorted(by: { $0.key < $1.key }) {
            guard let v = try? JV.parse(Array(text.utf8)) else { continue }
            defer { jv_free(v) }
            let provider = String(rel.dropFirst("providers/".count).dropLast(".json".count))
            let dialect = JV.text(JVBorrow(v, "dialect").value)
            let streamOnly = jv_get_kind(JVBorrow(v, "stream_only").value) == JV_KIND_TRUE
            if JV.text(JVBorrow(v, "patch").value) == patch, let dialect {
                return PatchTarget(patch: patch, provider: provider, dialect: dialect, streamOnly: streamOnly)
            }
            let account = JV.get(v, "account"); defer { jv_free(account) }
            if JV.isObject(account), JV.text(JVBorrow(account, "patch").value) == patch,
               let d = JV.text(JVBorrow(account, "dialect").value) ?? dialect {
                let so = JVBorrow(account, "stream_only").value
                let accountStreamOnly = jv_get_kind(so) == JV_KIND_NULL ? streamOnly : jv_get_kind(so) == JV_KIND_TRUE
                return PatchTarget(patch: patch, provider: provider, dialect: d, streamOnly: accountStreamOnly)
            }
        }
        return nil
    }

    /// Runs one case. With `update`, expected files are rewritten instead of
    /// compared. With `emitIR`, every IR the decoders produce for the case is
    /// written under that folder (`<pair>/<case>/{client.request,upstream.response,
    /// upstream.events,upstream.error}.json`) for `scripts/ir_check.py`.
    ///
    /// A patch case (`<client>-<patch>/`) binds the exchange to the patch, so
    /// every file goes through its hooks as on the server: the upstream body
    /// (and `upstream_headers.json` when the patch has a `headers` hook),
    /// replies, errors, streams (which are translated, not relayed, when the
    /// patch reshapes events) and the folded stream (also for a same-dialect
    /// client when the provider is `stream_only`).
    public func run(_ c: FixtureCase, ruleSet: RuleSet, update: Bool = false, emitIR: String? = nil) async -> FixtureOutcome {
        var outcome = FixtureOutcome(fixture: c)
        func check(_ file: String, _ actual: @autoclosure () async throws -> [UInt8], json: Bool = true) async {
            do {
                let bytes = try await actual()
                let path = c.dir + "/" + file
                if update {
                    let text = json ? Self.pretty(bytes) : bytes
                    if FileSystem.readBytes(path) != text { FileSystem.write(path, text); outcome.updated.append(file) }
                    return
                }
                guard let expected = FileSystem.readBytes(path) else {
                    outcome.failures.append((file, ["  missing (run with --update to create it)"])); return
                }
                if let d = json ? Self.jsonDiff(expected: expected, actual: bytes) : Self.textDiff(expected: expected, actual: bytes) {
                    outcome.failures.append((file, d))
                }
            } catch {
                outcome.failures.append((file, ["  error: \(error)"]))
            }
        }
        do {
            guard let request = FileSystem.readBytes(c.dir + "/client_request.json") else { throw RuleCompileError(["client_request.json unreadable"]) }
            let meta = try meta(c)
            // A dialect pair, or a patch named by a provider file.
            var target: PatchTarget? = nil
            if !ruleSet.hasDialect(c.upstream) {
                guard let t = Self.patchTarget(c.upstream, in: ruleSet.source) else {
                    throw RuleCompileError(["\(c.upstream) is neither a dialect nor a patch named by a file in Rules/providers/"])
                }
                guard ruleSet.hasDialect(t.dialect) else { throw RuleCompileError(["providers/\(t.provider).json: unknown dialect \(t.dialect)"]) }
                target = t
            }
            let dialect = target?.dialect ?? c.upstream
            let defaultModel = (target.flatMap { defaults.upstreamModel[$0.patch] ?? defaults.upstreamModel[$0.provider] }) ?? defaults.upstreamModel[dialect]
            var ctx = TranslationContext(model: defaultModel ?? "model", clientModel: defaults.clientModel[c.client],
                                         stream: false, requestID: defaults.requestID, created: defaults.created, idSeed: defaults.idSeed)
            // The client's model: what its own decoder reads (Gemini's comes from the URL, i.e. defaults).
            // A count body is read by the dialect's count decoder (Claude's has no max_tokens).
            let clientView = Exchange(ruleSet: ruleSet, client: c.client, upstream: c.client, context: ctx)
            if meta.count {
                if let m = try await clientView.decode(request, countTokens: true).model { ctx.clientModel = m }
            } else {
                let ir = try await clientView.decodeRequest(request)
                if let m = Self.textField(ir, "model") { ctx.clientModel = m }
            }
            // A same-dialect pair passes the client's model through; a patch
            // case stands for a provider, whose model the router picked.
            if target == nil && c.client == c.upstream { ctx.model = ctx.clientModel ?? ctx.model }
            if let m = meta.ctx["model"] { ctx.model = m }
            if let m = meta.ctx["client_model"] { ctx.clientModel = m }
            if let m = meta.ctx["request_id"] { ctx.requestID = m }
            if let m = meta.ctx["id_seed"] { ctx.idSeed = m }
            if let n = meta.created { ctx.created = n }

            // The exchange as the server binds it for one attempt.
            let binds = target != nil || meta.binds
            func exchange(_ ctx: TranslationContext) -> Exchange {
                let base = Exchange(ruleSet: ruleSet, client: c.client, upstream: dialect, context: ctx)
                guard binds else { return base }
                return base.bound(to: dialect, model: ctx.model, patch: target?.patch, account: meta.account,
                                  headers: meta.headers, reasoning: meta.reasoning)
            }
            let ex = exchange(ctx)

            if meta.count {
                // Count tokens: the upstream's count body, and its reply as the client's.
                _ = try await ex.decode(request, countTokens: true)
                let encoded = try await ex.encodeCountRequest()
                await check("upstream_request.json", encoded.body)
                if let t = target, ruleSet.source.patches[t.patch]?.contains("headers") == true {
                    await check("upstream_headers.json", Self.headersJSON(encoded.headers))
                }
                if let upstreamBody = FileSystem.readBytes(c.dir + "/upstream_response.json") {
                    await check("client_response.json", try await ex.translateCountReply(upstreamBody))
                }
                if let dir = emitIR {
                    FileSystem.makeDirectories(dir + "/" + c.id)
                    FileSystem.write(dir + "/" + c.id + "/client.request.json", try await ex.fixtureIR(.countRequest(request)))
                }
                return outcome
            }

            if binds {
                let encoded = try await ex.encodeUpstream(from: request)
                await check("upstream_request.json", encoded.body)
                if let t = target, ruleSet.source.patches[t.patch]?.contains("headers") == true {
                    await check("upstream_headers.json", Self.headersJSON(encoded.headers))
                }
            } else {
                await check("upstream_request.json", try await ex.translateRequest(request))
            }
            if target == nil && c.client == c.upstream {
                // Within one dialect, decode | encode | decode must give the IR back:
                // the IR (with its ext slot) holds everything the dialect said.
                let (first, second) = try await ex.fixpoint(request)
                if let d = Self.jsonDiff(expected: first, actual: second) {
                    outcome.failures.append(("fixpoint (decode | encode | decode)", d))
                }
            }
            if let dir = emitIR {
                try await Self.emitIR(c, ex: ex, request: request, meta: meta, into: dir + "/" + c.id)
            }
            if let upstreamBody = FileSystem.readBytes(c.dir + "/upstream_response.json") {
                if let status = meta.upstreamStatus, status >= 400 {
                    await check("client_response.json", Self.replyJSON(try await ex.translateError(status: status, headers: meta.upstreamHeaders, body: upstreamBody)))
                } else {
                    await check("client_response.json", try await ex.translateResponse(upstreamBody))
                }
            }
            if let sse = FileSystem.readBytes(c.dir + "/upstream_stream.sse") {
                var parser = SSEParser()
                let events = parser.feed(sse) + parser.finish()
                var sctx = ctx
                sctx.stream = true
                let sex = exchange(sctx)
                await check("client_stream.sse", try await Self.streamOutput(sex, request: request, events: events, raw: sse), json: false)
                // How a non-stream client is served from a stream: every
                // translation pair, and a stream-only provider's own dialect.
                if c.client != dialect || target?.streamOnly == true {
                    await check("client_response_from_stream.json", Self.replyJSON(try await ex.collect(events)))
                }
            }
        } catch {
            outcome.failures.append(("case", ["  error: \(error)"]))
        }
        return outcome
    }

    /// Patch headers as a JSON object, keys sorted (`upstream_headers.json`).
    static func headersJSON(_ headers: [(String, String)]) -> [UInt8] {
        var out: [UInt8] = [0x7B]
        for (i, (k, v)) in headers.sorted(by: { $0.0 < $1.0 }).enumerated() {
            if i > 0 { out.append(0x2C) }
            let kj = JV.string(k), vj = JV.string(v)
            JSONWriter.write(kj, into: &out); out.append(0x3A); JSONWriter.write(vj, into: &out)
            jv_free(kj); jv_free(vj)
        }
        out.append(0x7D)
        return out
    }

    static func emitIR(_ c: FixtureCase, ex: Exchange, request: [UInt8], meta: CaseMeta, into dir: String) async throws {
        FileSystem.makeDirectories(dir)
        let client = Exchange(ruleSet: ex.ruleSet, client: c.client, upstream: c.client, context: ex.context)
        FileSystem.write(dir + "/client.request.json", try await client.decodeRequest(request))
        // Upstream files reach the decoders through the patch's hooks, as on the server.
        if let body = FileSystem.readBytes(c.dir + "/upstream_response.json") {
            if let status = meta.upstreamStatus, status >= 400 {
                FileSystem.write(dir + "/upstream.error.json", try await ex.fixtureIR(.error(status: status, headers: meta.upstreamHeaders, body: body)))
            } else {
                FileSystem.write(dir + "/upstream.response.json", try await ex.fixtureIR(.response(body)))
            }
        }
        if let sse = FileSystem.readBytes(c.dir + "/upstream_stream.sse") {
            var parser = SSEParser()
            FileSystem.write(dir + "/upstream.events.json", try await ex.fixtureIR(.events(parser.feed(sse) + parser.finish())))
        }
    }

    /// The client stream, computed twice — all events in one call, then one
    /// event per call — which must agree: a fold may not depend on batching.
    /// A stream the server relays byte for byte (same dialect, no `event`
    /// hook) is the upstream's own bytes.
    static func streamOutput(_ ex: Exchange, request: [UInt8], events: [SSEEvent], raw: [UInt8]) async throws -> [UInt8] {
        if ex.relaysVerbatim { return raw }
        _ = try await ex.decodeRequest(request)
        let whole = ex.streamTranslator()
        var a = try await whole.translate(events)
        a += try await whole.finish()
        let single = ex.streamTranslator()
        var b: [UInt8] = []
        for e in events { b += try await single.translate([e]) }
        b += try await single.finish()
        if a != b {
            let d = JSONDiff.textDiff(expected: String(decoding: a, as: UTF8.self), actual: String(decoding: b, as: UTF8.self))
            throw RuleRuntimeError(rule: "stream", message: "output depends on batching (all at once vs one event per call):\n" + d.joined(separator: "\n"))
        }
        return a
    }

    static func replyJSON(_ r: RuleReply) -> [UInt8] {
        var out = Array("{\"status\":\(r.status),\"headers\":{".utf8)
        for (i, (k, v)) in r.headers.enumerated() {
            if i > 0 { out.append(0x2C) }
            let kj = JV.string(k), vj = JV.string(v)
            JSONWriter.write(kj, into: &out); out.append(0x3A); JSONWriter.write(vj, into: &out)
            jv_free(kj); jv_free(vj)
        }
        out += Array("},\"body\":".utf8) + r.body + [0x7D]
        return out
    }

    static func textField(_ json: [UInt8], _ key: String) -> String? {
        guard let v = try? JV.parse(json) else { return nil }
        defer { jv_free(v) }
        return JV.text(JVBorrow(v, key).value)
    }

    /// jq-style pretty JSON (two-space indent) with a final newline.
    static func pretty(_ bytes: [UInt8]) -> [UInt8] {
        guard let v = try? JV.parse(bytes) else { return bytes }
        defer { jv_free(v) }
        return Array(JV.dumpWithLibjq(v, pretty: true).utf8) + [0x0A]
    }

    static func jsonDiff(expected: [UInt8], actual: [UInt8]) -> [String]? {
        let e: jv, a: jv
        do { e = try JV.parse(expected) } catch { return ["  expected file is not valid JSON: \(error)"] }
        defer { jv_free(e) }
        do { a = try JV.parse(actual) } catch { return ["  output is not valid JSON: \(error)"] }
        defer { jv_free(a) }
        if jv_equal(jv_copy(e), jv_copy(a)) != 0 { return nil }
        var lines: [JSONDiff.Line] = []
        JSONDiff.diff(e, a, into: &lines)
        return lines.flatMap { l -> [String] in
            var out: [String] = []
            if let x = l.expected { out.append("- \(l.path): \(x)") }
            if let y = l.actual { out.append("+ \(l.path): \(y)") }
            return out
        }
    }

    static func textDiff(expected: [UInt8], actual: [UInt8]) -> [String]? {
        if expected == actual { return nil }
        return JSONDiff.textDiff(expected: String(decoding: expected, as: UTF8.self), actual: String(decoding: actual, as: UTF8.self))
    }
}

/// `object[key]` borrowed for the length of one expression; freed on deinit.
final class JVBorrow {
    let value: jv
    init(_ object: jv, _ key: String) { value = JV.get(object, key) }
    deinit { jv_free(value) }
}

/// An upstream input whose IR `rules test --emit-ir` writes for
/// `scripts/ir_check.py`, and a count-tokens request.
enum FixtureIRInput: Sendable {
    case response([UInt8])
    case error(status: Int, headers: [(String, String)], body: [UInt8])
    case events([SSEEvent])
    case countRequest([UInt8])
}

extension Exchange {
    /// The IR the decoders make of a fixture's input. Upstream inputs pass
    /// the bound patch's hook first (`response`, `error`, `event`), as they
    /// do on the server, so the IR checked is the one the client's rules get;
    /// without a patch this is `decodeUpstream`. A count request is read by
    /// the client dialect's `count::decode_request`.
    func fixtureIR(_ input: FixtureIRInput) async throws -> [UInt8] {
        try await worker.perform { [self] programs in
            func run(_ dialect: String, _ op: String, _ body: jv) throws -> jv {
                let req = values.request.value
                var env = jv_object()
                env = JV.set(owned: env, "op", owned: JV.string(op))
                env = JV.set(owned: env, "ctx", owned: context.jvValue(request: jv_get_kind(req) == JV_KIND_NULL ? nil : req, client: client))
                env = JV.set(owned: env, "body", owned: body)
                return try programs.run(dialect, op, owned: env)
            }
            func hook(_ name: String, _ body: jv) throws -> jv {
                guard let patch, hooks.contains(name) else { return body }
                return try run(upstream, "patch_\(name):\(patch)", body)
            }
            let out: jv
            switch input {
            case .response(let body):
                out = try run(upstream, "decode_response", try hook("response", try JV.parse(body)))
            case .error(let status, let headers, let body):
                out = try run(upstream, "decode_error", try hook("error", Exchange.errorInput(status: status, headers: headers, body: body)))
            case .events(let events):
                let d = try run(upstream, "decode_stream", Exchange.foldInput(state: jv_null(), events: try hook("event", SSEWriter.jvEvents(events)), final: true))
                out = JV.get(d, "out")
                jv_free(d)
            case .countRequest(let body):
                out = try run(client, "decode_request_count", try JV.parse(body))
            }
            defer { jv_free(out) }
            return JSONWriter.bytes(out)
        }
    }
}
