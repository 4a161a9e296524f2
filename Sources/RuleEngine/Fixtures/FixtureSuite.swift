import CJQ

/// One golden case: `Fixtures/<client>-<upstream>/<case>/` (see `Fixtures/README.md`).
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
            let sides = pair.split(separator: "-")
            guard sides.count == 2 else { continue }
            for name in FileSystem.list(root + "/" + pair).sorted() {
                let dir = root + "/" + pair + "/" + name
                guard FileSystem.exists(dir + "/client_request.json") else { continue }
                let c = FixtureCase(client: String(sides[0]), upstream: String(sides[1]), name: name, dir: dir)
                if let f = filter, f != c.pair, f != c.id { continue }
                out.append(c)
            }
        }
        return out
    }

    struct CaseMeta { var upstreamStatus: Int? = nil; var upstreamHeaders: [(String, String)] = []; var ctx: [String: String] = [:]; var created: Int? = nil; var stream: Bool? = nil }

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
        return m
    }

    /// Runs one case. With `update`, expected files are rewritten instead of
    /// compared. With `emitIR`, every IR the decoders produce for the case is
    /// written under that folder (`<pair>/<case>/{client.request,upstream.response,
    /// upstream.events,upstream.error}.json`) for `scripts/ir_check.py`.
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
            var ctx = TranslationContext(model: defaults.upstreamModel[c.upstream] ?? "model", clientModel: defaults.clientModel[c.client],
                                         stream: false, requestID: defaults.requestID, created: defaults.created, idSeed: defaults.idSeed)
            // The client's model: what its own decoder reads (Gemini's comes from the URL, i.e. defaults).
            let ir = try await Exchange(ruleSet: ruleSet, client: c.client, upstream: c.client, context: ctx).decodeRequest(request)
            if let m = Self.textField(ir, "model") { ctx.clientModel = m }
            if c.client == c.upstream { ctx.model = ctx.clientModel ?? ctx.model }
            if let m = meta.ctx["model"] { ctx.model = m }
            if let m = meta.ctx["client_model"] { ctx.clientModel = m }
            if let m = meta.ctx["request_id"] { ctx.requestID = m }
            if let m = meta.ctx["id_seed"] { ctx.idSeed = m }
            if let n = meta.created { ctx.created = n }

            let ex = Exchange(ruleSet: ruleSet, client: c.client, upstream: c.upstream, context: ctx)
            await check("upstream_request.json", try await ex.translateRequest(request))
            if c.client == c.upstream {
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
                let sex = Exchange(ruleSet: ruleSet, client: c.client, upstream: c.upstream, context: sctx)
                await check("client_stream.sse", try await Self.streamOutput(sex, request: request, events: events, raw: sse), json: false)
                if c.client != c.upstream {
                    await check("client_response_from_stream.json", Self.replyJSON(try await ex.collect(events)))
                }
            }
        } catch {
            outcome.failures.append(("case", ["  error: \(error)"]))
        }
        return outcome
    }

    static func emitIR(_ c: FixtureCase, ex: Exchange, request: [UInt8], meta: CaseMeta, into dir: String) async throws {
        FileSystem.makeDirectories(dir)
        let client = Exchange(ruleSet: ex.ruleSet, client: c.client, upstream: c.client, context: ex.context)
        FileSystem.write(dir + "/client.request.json", try await client.decodeRequest(request))
        if let body = FileSystem.readBytes(c.dir + "/upstream_response.json") {
            if let status = meta.upstreamStatus, status >= 400 {
                FileSystem.write(dir + "/upstream.error.json", try await ex.decodeUpstream(status: status, headers: meta.upstreamHeaders, error: body))
            } else {
                FileSystem.write(dir + "/upstream.response.json", try await ex.decodeUpstream(response: body))
            }
        }
        if let sse = FileSystem.readBytes(c.dir + "/upstream_stream.sse") {
            var parser = SSEParser()
            FileSystem.write(dir + "/upstream.events.json", try await ex.decodeUpstream(stream: parser.feed(sse) + parser.finish()))
        }
    }

    /// The client stream, computed twice — all events in one call, then one
    /// event per call — which must agree: a fold may not depend on batching.
    static func streamOutput(_ ex: Exchange, request: [UInt8], events: [SSEEvent], raw: [UInt8]) async throws -> [UInt8] {
        if ex.client == ex.upstream { return raw }
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
