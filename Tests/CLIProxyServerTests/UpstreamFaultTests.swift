import Foundation
import RuleEngine
import Synchronization
import Testing
import UpstreamTransport
@testable import CLIProxyServer

// Upstream faults through the real server (issue 6, item 2; docs/RELIABILITY.md,
// "Upstream faults"). The rule every test checks: a fault before the first
// byte reaches the client is a failover to another credential or a clean HTTP
// error in the client's dialect; after it, the dialect's in-stream error and
// a closed stream. Every client call has timeouts and must return.
//
// Clients: Claude Messages and Responses translated to an OpenAI-compatible
// upstream; Chat Completions against it is the same-dialect (verbatim) relay.

/// Config with OpenAI-compatible entries that all serve `my-model`, in order.
private func faultConfig(_ entries: [(name: String, url: String, keys: [String])], extra: String = "") -> String {
    var s = "port: 8317\nopenai-compatibility:\n"
    for e in entries {
        s += """
          - name: "\(e.name)"
            base-url: "\(e.url)/v1"
            api-keys: [\(e.keys.map { "\"\($0)\"" }.joined(separator: ", "))]
            models:
              - name: "upstream-model"
                alias: "my-model"

        """
    }
    return s + extra + "\n"
}

/// One client call that must return: a thrown error (a client timeout
/// included) is recorded as a failure and gives nil.
private func mustReturn(_ client: Client, _ dialect: String, stream: Bool, _ label: String, model: String = "my-model",
                        sourceLocation: SourceLocation = #_sourceLocation) async -> (status: Int, headers: [(String, String)], body: String)? {
    let (path, body) = clientRequest(dialect, model: model, stream: stream)
    do {
        let (s, h, b) = try await client.call(path, body)
        return (s, h, b)
    } catch {
        Issue.record("\(label) (\(dialect), stream \(stream)): the client call did not return cleanly: \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

/// Timeouts on every client call: generous, so that load cannot trip them,
/// but finite, so that a hanging connection fails the test.
private func faultClient(_ server: TestServer) -> Client {
    Client(base: server.base, options: TransportOptions(connectTimeout: 10, idleReadTimeout: 45, totalTimeout: 90))
}

/// A clean HTTP error in the client's dialect, before any stream byte.
private func expectCleanError(_ r: (status: Int, headers: [(String, String)], body: String)?, _ dialect: String, status: ClosedRange<Int> = 500...599,
                              containing: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) {
    guard let r else { return }
    #expect(status.contains(r.status), "\(dialect): status \(r.status) \(r.body.prefix(300))", sourceLocation: sourceLocation)
    #expect(header(r.headers, "content-type")?.hasPrefix("application/json") == true, "\(dialect): an HTTP error, not a stream", sourceLocation: sourceLocation)
    let shape = dialect == "claude" ? "\"type\":\"error\"" : "\"error\":{"
    #expect(r.body.contains(shape), "\(dialect): \(r.body.prefix(300))", sourceLocation: sourceLocation)
    if let containing { #expect(r.body.contains(containing), "\(dialect): \(r.body.prefix(300))", sourceLocation: sourceLocation) }
}

/// A complete, successful answer in the client's dialect.
private func expectSuccess(_ r: (status: Int, headers: [(String, String)], body: String)?, _ dialect: String, stream: Bool,
                           sourceLocation: SourceLocation = #_sourceLocation) {
    guard let r else { return }
    #expect(r.status == 200, "\(dialect): \(r.status) \(r.body.prefix(300))", sourceLocation: sourceLocation)
    guard stream else { return }
    let terminator = ["claude": "event: message_stop", "responses": "event: response.completed", "openai": "data: [DONE]"][dialect]!
    #expect(r.body.contains(terminator), "\(dialect): \(r.body.suffix(300))", sourceLocation: sourceLocation)
}

/// A stream that started and then ended with the dialect's in-stream error.
private func expectInStreamError(_ r: (status: Int, headers: [(String, String)], body: String)?, _ dialect: String, sawFirst: String,
                                 sourceLocation: SourceLocation = #_sourceLocation) {
    guard let r else { return }
    #expect(r.status == 200 && header(r.headers, "content-type")?.hasPrefix("text/event-stream") == true,
            "\(dialect): \(r.status) \(r.body.prefix(200))", sourceLocation: sourceLocation)
    #expect(r.body.contains(sawFirst), "\(dialect): what came before the fault reached the client", sourceLocation: sourceLocation)
    switch dialect {
    case "gemini":
        #expect(r.body.contains("data: {\"error\":{") && !r.body.contains("finishReason"), "\(r.body.suffix(400))", sourceLocation: sourceLocation)
    case "claude":
        #expect(r.body.contains("event: error") && !r.body.contains("message_stop"), "\(r.body.suffix(400))", sourceLocation: sourceLocation)
    case "responses":
        #expect(r.body.contains("response.failed") && !r.body.contains("response.completed"), "\(r.body.suffix(400))", sourceLocation: sourceLocation)
    default:
        #expect(r.body.contains("data: {\"error\":") && !r.body.contains("[DONE]"), "\(r.body.suffix(400))", sourceLocation: sourceLocation)
    }
    // Every event the client got is complete (nothing half-written after the break).
    #expect(r.body.hasSuffix("\n\n"), "\(dialect): the stream ends on an event boundary: \(r.body.suffix(200))", sourceLocation: sourceLocation)
}

/// The first `n` events of a recorded upstream stream (`separator` ends an event).
private func fixtureEvents(_ pair: String, _ n: Int, separator: String) -> [UInt8] {
    let text = String(decoding: Repo.fixture(pair, "tools", "upstream_stream.sse"), as: UTF8.self)
    return Array(text.components(separatedBy: separator).prefix(n).map { $0 + separator }.joined().utf8)
}

/// An OpenAI upstream stream of text deltas `part0 …`, cut after `n` of them.
private func sseBytes(_ n: Int) -> [UInt8] { chatChunks(n, finish: false).flatMap { $0 } }

@Suite(.serialized) struct UpstreamFaultTests {
    // MARK: the relay's framing

    /// The verbatim relay's aligner passes whole events only, whatever the
    /// chunking (LF and CRLF, boundaries split across chunks), and notices a
    /// stream cut in the middle of an event.
    @Test func eventAlignerPassesWholeEventsOnly() {
        let stream = Array("data: {\"a\":1}\n\nevent: x\r\ndata: {\"b\":2}\r\n\r\n: ping\n\ndata: [DONE]\n\n".utf8)
        for size in [1, 2, 3, 5, 7, 16, stream.count] {
            var aligner = SSEEventAligner()
            var out: [UInt8] = [], cuts: [Int] = []
            for start in stride(from: 0, to: stream.count, by: size) {
                let got = aligner.take(Array(stream[start..<min(stream.count, start + size)]))
                if !got.isEmpty { out += got; cuts.append(out.count) }
            }
            #expect(out == stream, "chunks of \(size)")
            #expect(!aligner.hasPartialEvent)
            for c in cuts { #expect(out[c - 1] == 0x0A && (out[c - 2] == 0x0A || out[c - 3] == 0x0A), "chunks of \(size): a cut at \(c) is a boundary") }
        }
        var cut = SSEEventAligner()
        #expect(cut.take(Array("data: {\"a\":1}\n\ndata: {\"b\"".utf8)) == Array("data: {\"a\":1}\n\n".utf8))
        #expect(cut.hasPartialEvent)
        var blank = SSEEventAligner()
        _ = blank.take(Array("data: 1\n\n\n".utf8))
        #expect(!blank.hasPartialEvent, "a trailing blank line is no event")
    }

    // MARK: connection refused

    @Test func connectionRefused() async throws {
        let good = FakeUpstream(dialectUpstream())
        try await good.start(); defer { good.stop() }
        let dead = "http://127.0.0.1:\(refusedPort())"

        let alone = try await TestServer(yaml: faultConfig([("dead", dead, ["k-dead"])])); defer { alone.stop() }
        let c1 = faultClient(alone)
        for (dialect, stream) in [("claude", false), ("claude", true), ("responses", true), ("openai", true)] {
            expectCleanError(await mustReturn(c1, dialect, stream: stream, "refused"), dialect, status: 502...502, containing: "unreachable")
        }

        // With a second entry the request fails over and succeeds, whichever
        // entry the round-robin starts on.
        let both = try await TestServer(yaml: faultConfig([("dead", dead, ["k-dead"]), ("good", good.url, ["k-good"])])); defer { both.stop() }
        let c2 = faultClient(both)
        for (dialect, stream) in [("claude", true), ("claude", true), ("responses", false), ("responses", false), ("openai", true), ("openai", true)] {
            expectSuccess(await mustReturn(c2, dialect, stream: stream, "refused + failover"), dialect, stream: stream)
        }
    }

    // MARK: TLS failure

    @Test func untrustedCertificate() async throws {
        guard let tls = await offPool({ UntrustedTLSServer() }) else {
            Issue.record("openssl s_server could not be started"); return
        }
        defer { tls.stop() }
        let good = FakeUpstream(dialectUpstream())
        try await good.start(); defer { good.stop() }

        let alone = try await TestServer(yaml: faultConfig([("selfsigned", tls.url, ["k-tls"])])); defer { alone.stop() }
        let c1 = faultClient(alone)
        for (dialect, stream) in [("claude", true), ("responses", false), ("openai", true)] {
            expectCleanError(await mustReturn(c1, dialect, stream: stream, "TLS"), dialect, status: 502...502, containing: "TLS")
        }

        let both = try await TestServer(yaml: faultConfig([("selfsigned", tls.url, ["k-tls"]), ("good", good.url, ["k-good"])])); defer { both.stop() }
        let c2 = faultClient(both)
        for (dialect, stream) in [("claude", true), ("claude", true), ("openai", true), ("openai", true)] {
            expectSuccess(await mustReturn(c2, dialect, stream: stream, "TLS + failover"), dialect, stream: stream)
        }
    }

    // MARK: reset before the response head

    @Test func resetBeforeHeaders() async throws {
        let resetting = ScriptedUpstream { _ in [.reset] }
        defer { resetting.stop() }
        let good = FakeUpstream(dialectUpstream())
        try await good.start(); defer { good.stop() }

        let alone = try await TestServer(yaml: faultConfig([("resetting", resetting.url, ["k-reset"])])); defer { alone.stop() }
        let c1 = faultClient(alone)
        for (dialect, stream) in [("claude", false), ("claude", true), ("responses", true), ("openai", true)] {
            expectCleanError(await mustReturn(c1, dialect, stream: stream, "reset before headers"), dialect, status: 502...502)
        }

        let both = try await TestServer(yaml: faultConfig([("resetting", resetting.url, ["k-reset"]), ("good", good.url, ["k-good"])])); defer { both.stop() }
        let c2 = faultClient(both)
        for (dialect, stream) in [("claude", true), ("claude", true), ("openai", true), ("openai", true)] {
            expectSuccess(await mustReturn(c2, dialect, stream: stream, "reset + failover"), dialect, stream: stream)
        }
        #expect(resetting.requests.load(ordering: .relaxed) >= 4 + 2)
    }

    // MARK: reset mid-stream

    @Test func resetMidStream() async throws {
        // After the first byte: the translated clients (StreamingTests covers
        // them too) and the same-dialect relay end with the in-stream error.
        let fake = FakeUpstream { _ in .stream(chatChunks(3, finish: false), reset: true) }
        try await fake.start(); defer { fake.stop() }
        let server = try await TestServer(yaml: faultConfig([("compat", fake.url, ["k-1"])])); defer { server.stop() }
        let c = faultClient(server)
        for dialect in ["claude", "responses", "openai"] {
            expectInStreamError(await mustReturn(c, dialect, stream: true, "reset mid-stream"), dialect, sawFirst: "part2")
        }
        // The other same-dialect relays: Claude → Claude, Gemini → Gemini.
        let native = FakeUpstream { req in
            req.path.contains(":streamGenerateContent") ? .stream([fixtureEvents("gemini-gemini", 1, separator: "\r\n\r\n")], reset: true)
                : .stream([fixtureEvents("claude-claude", 4, separator: "\n\n")], reset: true)
        }
        try await native.start(); defer { native.stop() }
        let ns = try await TestServer(yaml: config(native)); defer { ns.stop() }
        expectInStreamError(await mustReturn(faultClient(ns), "claude", stream: true, "reset mid-stream", model: "claude-sonnet-4-20250514"),
                            "claude", sawFirst: "I'll check the weather")
        expectInStreamError(await mustReturn(faultClient(ns), "gemini", stream: true, "reset mid-stream", model: "gemini-2.5-pro"),
                            "gemini", sawFirst: "Florence")
        // Responses → Codex: same dialect behind a patch that reshapes events.
        let codex = FakeUpstream { _ in .stream([fixtureEvents("responses-responses", 6, separator: "\n\n")], reset: true) }
        try await codex.start(); defer { codex.stop() }
        let cs = try await TestServer(yaml: "port: 8317\nupstreams:\n  codex:\n    base-url: \(codex.url)\n",
                                      authFiles: ["codex-c@example.com.json": Accounts.codex()])
        defer { cs.stop() }
        let cr = await mustReturn(faultClient(cs), "responses", stream: true, "reset mid-stream", model: "gpt-5")
        expectInStreamError(cr, "responses", sawFirst: "response.output_text.delta")

        // A break after the upstream's own terminator (the connection closed
        // without its final chunk) adds nothing: the answer was complete.
        let late = FakeUpstream { req in
            req.path.hasPrefix("/v1/messages") ? .stream([Repo.fixture("claude-claude", "tools", "upstream_stream.sse")], reset: true)
                : .stream(chatChunks(2), reset: true)
        }
        try await late.start(); defer { late.stop() }
        let ls = try await TestServer(yaml: config(late)); defer { ls.stop() }
        for (dialect, model) in [("openai", "my-model"), ("claude", "claude-sonnet-4-20250514"), ("claude", "my-model")] {
            let r = await mustReturn(faultClient(ls), dialect, stream: true, "reset after the terminator", model: model)
            expectSuccess(r, dialect, stream: true)
            #expect(r?.body.contains("error") == false, "\(dialect) via \(model): \(r?.body.suffix(300) ?? "")")
        }

        // Before the first event: the 200 head came, then the connection broke.
        // Nothing reached the client yet, so the next key serves it.
        let keyed = FakeUpstream { req in
            req.header("authorization") == "Bearer k-broken" ? .stream([], reset: true) : .stream(chatChunks(2))
        }
        try await keyed.start(); defer { keyed.stop() }
        let two = try await TestServer(yaml: faultConfig([("compat", keyed.url, ["k-broken", "k-fine"])])); defer { two.stop() }
        let c2 = faultClient(two)
        for dialect in ["claude", "claude", "openai", "openai"] {
            expectSuccess(await mustReturn(c2, dialect, stream: true, "break before first event + failover"), dialect, stream: true)
        }
        #expect(keyed.requests.filter { $0.header("authorization") == "Bearer k-broken" }.count >= 2)
        // And alone, the same break is a clean HTTP error in every dialect.
        let one = try await TestServer(yaml: faultConfig([("compat", keyed.url, ["k-broken"])])); defer { one.stop() }
        for dialect in ["claude", "openai"] {
            expectCleanError(await mustReturn(faultClient(one), dialect, stream: true, "break before first event"), dialect)
        }
    }

    // MARK: a stream that stalls

    @Test func stalledStream() async throws {
        // stream-idle-timeout is the config key for upstream silence (the
        // response head and every read after it); 2 s here, the stall 30 s.
        let stalling = ScriptedUpstream { _ in [ScriptedUpstream.head(), .write(sseBytes(2)), .pause(ms: 30_000)] }
        defer { stalling.stop() }
        let server = try await TestServer(yaml: faultConfig([("stalling", stalling.url, ["k-1"])], extra: "stream-idle-timeout: 2")); defer { server.stop() }
        let c = faultClient(server)
        for dialect in ["claude", "responses", "openai"] {
            expectInStreamError(await mustReturn(c, dialect, stream: true, "stall mid-stream"), dialect, sawFirst: "part1")
        }

        // Silent right after the head: before the first byte, so a failover.
        let silent = ScriptedUpstream { _ in [ScriptedUpstream.head(), .pause(ms: 30_000)] }
        defer { silent.stop() }
        let good = FakeUpstream(dialectUpstream())
        try await good.start(); defer { good.stop() }
        let both = try await TestServer(yaml: faultConfig([("silent", silent.url, ["k-s"]), ("good", good.url, ["k-good"])], extra: "stream-idle-timeout: 2"))
        defer { both.stop() }
        let c2 = faultClient(both)
        for dialect in ["claude", "claude", "openai", "openai"] {
            expectSuccess(await mustReturn(c2, dialect, stream: true, "silent after head + failover"), dialect, stream: true)
        }
        #expect(silent.requests.load(ordering: .relaxed) >= 2)
    }

    // MARK: truncated final event

    @Test func truncatedFinalEvent() async throws {
        // The stream ends cleanly (no reset) in the middle of an event's line,
        // without finish_reason or [DONE].
        let cut = Array(#"data: {"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"half-writ"#.utf8)
        let fake = FakeUpstream { _ in .stream(chatChunks(3, finish: false) + [cut]) }
        try await fake.start(); defer { fake.stop() }
        let server = try await TestServer(yaml: faultConfig([("compat", fake.url, ["k-1"])])); defer { server.stop() }
        let c = faultClient(server)
        for dialect in ["claude", "responses", "openai"] {
            let r = await mustReturn(c, dialect, stream: true, "truncated final event")
            expectInStreamError(r, dialect, sawFirst: "part2")
            #expect(r?.body.contains("half-writ") == false, "\(dialect): an incomplete event never reaches the client")
        }
    }

    // MARK: a garbage line in a stream

    @Test func garbageLineInAStream() async throws {
        // Lines that are not SSE fields, and an event whose data is not JSON,
        // between good events: translators skip them (pitfall 58: unknown
        // events are ignored), the answer completes.
        var chunks = chatChunks(3)
        chunks.insert(Array("this line is no SSE field\n<html>502 Bad Gateway</html>\n\n".utf8), at: 2)
        chunks.insert(Array("data: {\"truncated\": \n\n".utf8), at: 3)
        let script = chunks
        let fake = FakeUpstream { _ in .stream(script) }
        try await fake.start(); defer { fake.stop() }
        let server = try await TestServer(yaml: faultConfig([("compat", fake.url, ["k-1"])])); defer { server.stop() }
        let c = faultClient(server)
        for dialect in ["claude", "responses"] {
            let r = await mustReturn(c, dialect, stream: true, "garbage line")
            expectSuccess(r, dialect, stream: true)
            #expect(r?.body.contains("part2") == true && r?.body.contains("event: error") == false && r?.body.contains("<html>") == false,
                    "\(dialect): \(r?.body.suffix(300) ?? "")")
        }
        // Same dialect: the relay does not inspect events; the client gets the
        // upstream's bytes as they were, garbage included, to its end.
        let r = await mustReturn(c, "openai", stream: true, "garbage line")
        expectSuccess(r, "openai", stream: true)
        #expect(r?.body.contains("<html>") == true && r?.body.contains("part2") == true)
    }

    // MARK: a 200 whose body is an error

    @Test func okStatusWithAnErrorBody() async throws {
        let errorBody = Array(#"{"error":{"message":"upstream exploded politely","type":"server_error","code":"boom"}}"#.utf8)
        let keyed = FakeUpstream { req in
            if req.header("authorization") == "Bearer k-liar" { return .json(200, errorBody) }
            return req.body.contains(#""stream":true"#) ? .stream(chatChunks(2)) : .json(200, Repo.fixture("openai-openai", "text", "upstream_response.json"))
        }
        try await keyed.start(); defer { keyed.stop() }

        // Alone: an HTTP error in the client's dialect, with the upstream's message.
        let one = try await TestServer(yaml: faultConfig([("compat", keyed.url, ["k-liar"])])); defer { one.stop() }
        let c1 = faultClient(one)
        for dialect in ["claude", "responses", "openai"] {
            expectCleanError(await mustReturn(c1, dialect, stream: false, "200 with error body"), dialect, status: 500...599,
                             containing: "upstream exploded politely")
        }
        // A stream request answered with that JSON instead of a stream: no
        // event came, so a clean HTTP error as well, with the upstream's message.
        for dialect in ["claude", "responses", "openai"] {
            expectCleanError(await mustReturn(c1, dialect, stream: true, "200 with error body, stream"), dialect,
                             containing: "upstream exploded politely")
        }

        // With a second key: failover, the client never sees the lie.
        let two = try await TestServer(yaml: faultConfig([("compat", keyed.url, ["k-liar", "k-honest"])])); defer { two.stop() }
        let c2 = faultClient(two)
        for dialect in ["claude", "claude", "openai", "openai"] {
            let r = await mustReturn(c2, dialect, stream: false, "200 with error body + failover")
            expectSuccess(r, dialect, stream: false)
            #expect(r?.body.contains("Portuguese") == true, "\(dialect): \(r?.body.prefix(300) ?? "")")
        }
        for dialect in ["claude", "claude", "openai", "openai"] {
            expectSuccess(await mustReturn(c2, dialect, stream: true, "200 with error body, stream + failover"), dialect, stream: true)
        }
    }

    // MARK: 429

    @Test func rateLimitedWithRetryAfter() async throws {
        let limited = Array(#"{"error":{"message":"Rate limit reached","type":"rate_limit_error","code":"rate_limit_exceeded"}}"#.utf8)
        let keyed = FakeUpstream { req in
            req.header("authorization") == "Bearer k-limited" ? .json(429, limited, headers: [("Retry-After", "37")])
                : .json(200, Repo.fixture("openai-openai", "text", "upstream_response.json"))
        }
        try await keyed.start(); defer { keyed.stop() }

        // Alone: 429 in the dialect with the upstream's Retry-After; then the
        // key cools and the proxy answers 429 itself, without calling.
        let one = try await TestServer(yaml: faultConfig([("compat", keyed.url, ["k-limited"])])); defer { one.stop() }
        let c1 = faultClient(one)
        let first = await mustReturn(c1, "claude", stream: false, "429 Retry-After")
        expectCleanError(first, "claude", status: 429...429)
        #expect(first.flatMap { header($0.headers, "retry-after") } == "37")
        let calls = keyed.requests.count
        for dialect in ["claude", "openai", "responses"] {
            let r = await mustReturn(c1, dialect, stream: true, "429 Retry-After, cooling")
            expectCleanError(r, dialect, status: 429...429)
            let after = r.flatMap { header($0.headers, "retry-after") }.flatMap { Int($0) } ?? 0
            #expect((1...37).contains(after), "\(dialect): retry-after \(after)")
        }
        #expect(keyed.requests.count == calls, "a cooling key is not called")

        // With a second key: failover; the limited key is asked once, then cools.
        let two = try await TestServer(yaml: faultConfig([("compat", keyed.url, ["k-limited", "k-fine"])])); defer { two.stop() }
        let c2 = faultClient(two)
        let before = keyed.requests.filter { $0.header("authorization") == "Bearer k-limited" }.count
        for dialect in ["claude", "claude", "openai", "responses"] {
            expectSuccess(await mustReturn(c2, dialect, stream: false, "429 + failover"), dialect, stream: false)
        }
        #expect(keyed.requests.filter { $0.header("authorization") == "Bearer k-limited" }.count - before <= 1)
    }

    @Test func rateLimitedWithoutRetryAfter() async throws {
        let limited = Array(#"{"error":{"message":"Rate limit reached","type":"rate_limit_error","code":"rate_limit_exceeded"}}"#.utf8)
        let keyed = FakeUpstream { req in
            req.header("authorization") == "Bearer k-limited" ? .json(429, limited)
                : .stream(chatChunks(2))
        }
        try await keyed.start(); defer { keyed.stop() }

        // Alone: the upstream's 429 in the client's dialect; asked again, a
        // 429 again (from the proxy while the key cools, with a Retry-After
        // of its own, or from the upstream once the short cooldown is over).
        let one = try await TestServer(yaml: faultConfig([("compat", keyed.url, ["k-limited"])])); defer { one.stop() }
        let c1 = faultClient(one)
        for dialect in ["claude", "responses", "openai"] {
            let before = keyed.requests.count
            let r = await mustReturn(c1, dialect, stream: true, "429 without Retry-After")
            expectCleanError(r, dialect, status: 429...429, containing: keyed.requests.count > before ? "Rate limit reached" : nil)
            if keyed.requests.count == before { #expect(r.flatMap { header($0.headers, "retry-after") } != nil) }
        }

        // With a second key: failover.
        let two = try await TestServer(yaml: faultConfig([("compat", keyed.url, ["k-limited", "k-fine"])])); defer { two.stop() }
        let c2 = faultClient(two)
        for dialect in ["claude", "claude", "openai", "openai"] {
            expectSuccess(await mustReturn(c2, dialect, stream: true, "429 + failover"), dialect, stream: true)
        }
    }

    // MARK: 500 storms

    @Test func serverErrorStorm() async throws {
        let storm = FakeUpstream { _ in .json(500, Array(#"{"error":{"message":"the storm","type":"server_error"}}"#.utf8)) }
        try await storm.start(); defer { storm.stop() }
        // Two keys, request-retry 2: each request makes 2 + 2 attempts, then a clean error.
        let server = try await TestServer(yaml: faultConfig([("compat", storm.url, ["k-1", "k-2"])], extra: "request-retry: 2")); defer { server.stop() }
        let c = faultClient(server)
        for (dialect, stream) in [("claude", false), ("claude", true), ("responses", true), ("openai", true), ("openai", false)] {
            let before = storm.requests.count
            expectCleanError(await mustReturn(c, dialect, stream: stream, "500 storm"), dialect, status: 500...599, containing: "the storm")
            #expect(storm.requests.count - before == 4, "\(dialect) stream \(stream): \(storm.requests.count - before) attempts")
        }
        // Still serving, and nothing cools after 500s: the next request tries again.
        #expect(try await c.call("/healthz", method: "GET").0 == 200)
    }

    // MARK: a slow upstream beyond the timeout

    @Test func slowUpstreamBeyondTheTimeout() async throws {
        // The head would come after 30 s; stream-idle-timeout (2 s) also
        // bounds the wait for the head, streaming or not.
        let slow = ScriptedUpstream { _ in [.pause(ms: 30_000), ScriptedUpstream.head(contentType: "application/json"), .write(Array("{}".utf8))] }
        defer { slow.stop() }
        let good = FakeUpstream(dialectUpstream())
        try await good.start(); defer { good.stop() }

        let alone = try await TestServer(yaml: faultConfig([("slow", slow.url, ["k-slow"])], extra: "stream-idle-timeout: 2")); defer { alone.stop() }
        let c1 = faultClient(alone)
        for (dialect, stream) in [("claude", false), ("claude", true), ("responses", false), ("openai", false), ("openai", true)] {
            expectCleanError(await mustReturn(c1, dialect, stream: stream, "slow upstream"), dialect, status: 502...504, containing: "timed out")
        }

        // A slow body after a prompt head (non-stream): the read timeout applies.
        let dribbling = ScriptedUpstream { _ in [ScriptedUpstream.head(contentType: "application/json"), .write(Array("{\"id\":".utf8)), .pause(ms: 30_000)] }
        defer { dribbling.stop() }
        let d = try await TestServer(yaml: faultConfig([("dribbling", dribbling.url, ["k-d"])], extra: "stream-idle-timeout: 2")); defer { d.stop() }
        for dialect in ["claude", "openai"] {
            expectCleanError(await mustReturn(faultClient(d), dialect, stream: false, "slow body"), dialect, status: 502...504, containing: "timed out")
        }

        let both = try await TestServer(yaml: faultConfig([("slow", slow.url, ["k-slow"]), ("good", good.url, ["k-good"])], extra: "stream-idle-timeout: 2"))
        defer { both.stop() }
        let c2 = faultClient(both)
        for (dialect, stream) in [("claude", false), ("claude", false), ("openai", true), ("openai", true)] {
            expectSuccess(await mustReturn(c2, dialect, stream: stream, "slow + failover"), dialect, stream: stream)
        }
    }
}
