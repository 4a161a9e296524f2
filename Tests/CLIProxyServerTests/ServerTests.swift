import Foundation
import RuleEngine
import Testing
import Synchronization
import UpstreamTransport
@testable import CLIProxyServer

/// A fake upstream that answers in every dialect with the recorded fixture
/// answers of one scenario (the `tools` case by default: a `weather` call for
/// Florence), streaming or not as the request asked.
func dialectUpstream(_ scenario: String = "tools", chunks: Int = 3) -> FakeUpstream.Handler {
    { req in
        func split(_ b: [UInt8]) -> [[UInt8]] {
            let size = max(1, b.count / chunks + 1)
            return stride(from: 0, to: b.count, by: size).map { Array(b[$0..<min(b.count, $0 + size)]) }
        }
        let wantsStream = req.body.contains(#""stream":true"#) || req.body.contains(#""stream": true"#)
        let p = req.path
        if p.contains(":streamGenerateContent") { return .stream(split(Repo.fixture("gemini-gemini", scenario, "upstream_stream.sse"))) }
        if p.contains(":generateContent") { return .json(200, Repo.fixture("gemini-gemini", scenario, "upstream_response.json")) }
        if p.contains(":countTokens") { return .json(200, Array(#"{"totalTokens":42}"#.utf8)) }
        if p.hasPrefix("/v1/messages/count_tokens") { return .json(200, Array(#"{"input_tokens":42}"#.utf8)) }
        if p.hasPrefix("/v1/messages") {
            return wantsStream ? .stream(split(Repo.fixture("claude-claude", scenario, "upstream_stream.sse")))
                               : .json(200, Repo.fixture("claude-claude", scenario, "upstream_response.json"))
        }
        if p.hasSuffix("/chat/completions") {
            return wantsStream ? .stream(split(Repo.fixture("openai-openai", scenario, "upstream_stream.sse")))
                               : .json(200, Repo.fixture("openai-openai", scenario, "upstream_response.json"))
        }
        return .json(404, Array(#"{"error":{"message":"fake upstream: no such path"}}"#.utf8))
    }
}

func config(_ fake: FakeUpstream, extra: String = "", geminiKeys: [String] = ["g-key-1", "g-key-2"]) -> String {
    """
    port: 8317
    generative-language-api-key: [\(geminiKeys.map { "\"\($0)\"" }.joined(separator: ", "))]
    claude-api-key:
      - api-key: "c-key-1"
    openai-compatibility:
      - name: "compat"
        base-url: "\(fake.url)/v1"
        api-keys: ["o-key-1"]
        models:
          - name: "upstream-model"
            alias: "my-model"
    upstreams:
      gemini: {base-url: "\(fake.url)"}
      claude: {base-url: "\(fake.url)"}
    \(extra)
    """
}

/// A client request of `dialect` for the fixture scenario, with the model and
/// the stream flag set; for Gemini, the path carries both.
func clientRequest(_ dialect: String, model: String, stream: Bool, scenario: String = "tools") -> (path: String, body: String) {
    let raw = Repo.fixture("\(dialect)-\(dialect)", scenario, "client_request.json")
    var obj = try! JSONSerialization.jsonObject(with: Data(raw)) as! [String: Any]
    switch dialect {
    case "gemini":
        return ("/v1beta/models/\(model):" + (stream ? "streamGenerateContent?alt=sse" : "generateContent"), String(decoding: raw, as: UTF8.self))
    default:
        obj["model"] = model
        obj["stream"] = stream
        if dialect == "openai" && !stream { obj.removeValue(forKey: "stream_options") }
        let path = ["openai": "/v1/chat/completions", "responses": "/v1/responses", "claude": "/v1/messages"][dialect]!
        return (path, String(decoding: try! JSONSerialization.data(withJSONObject: obj), as: UTF8.self))
    }
}

@Suite(.serialized) struct ServerTests {
    @Test func everyClientEndpointAgainstEveryProvider() async throws {
        let fake = FakeUpstream(dialectUpstream())
        try await fake.start(); defer { fake.stop() }
        let server = try await TestServer(yaml: config(fake)); defer { server.stop() }
        let client = Client(base: server.base)
        for dialect in ["openai", "responses", "claude", "gemini"] {
            for (model, provider) in [("gemini-2.5-pro", "gemini"), ("claude-sonnet-4-20250514", "claude"), ("my-model", "compat")] {
                for stream in [false, true] {
                    let (path, body) = clientRequest(dialect, model: model, stream: stream)
                    let before = fake.requests.count
                    let (status, headers, reply) = try await client.call(path, body)
                    let what = "\(dialect) client, \(provider) upstream, stream \(stream)"
                    #expect(status == 200, "\(what): \(reply.prefix(300))")
                    #expect(reply.contains("Florence"), "\(what): \(reply.prefix(300))")
                    #expect(header(headers, "content-type")?.hasPrefix(stream ? "text/event-stream" : "application/json") == true, "\(what)")
                    let seen = fake.requests[before...]
                    #expect(seen.count == 1, "\(what): one upstream call")
                    guard let up = seen.first else { continue }
                    switch provider {
                    case "gemini":
                        #expect(up.path.contains("/v1beta/models/gemini-2.5-pro:" + (stream ? "streamGenerateContent?alt=sse" : "generateContent")), "\(what): \(up.path)")
                        #expect(up.header("x-goog-api-key")?.hasPrefix("g-key-") == true)
                    case "claude":
                        #expect(up.path == "/v1/messages", "\(what)")
                        #expect(up.header("x-api-key") == "c-key-1")
                        #expect(up.header("anthropic-version") == "2023-06-01")
                        #expect(up.body.contains("claude-sonnet-4-20250514"))
                    default:
                        #expect(up.path == "/v1/chat/completions", "\(what)")
                        #expect(up.header("authorization") == "Bearer o-key-1")
                        #expect(up.body.contains("\"upstream-model\""), "\(what): the alias became the upstream name")
                    }
                    #expect(up.header("user-agent")?.hasPrefix("cliproxy/") == true)
                }
            }
        }
    }

    @Test func imagesReachTheUpstream() async throws {
        let fake = FakeUpstream(dialectUpstream("image_base64"))
        try await fake.start(); defer { fake.stop() }
        let server = try await TestServer(yaml: config(fake)); defer { server.stop() }
        let client = Client(base: server.base)
        for dialect in ["openai", "claude", "gemini"] {
            for model in ["gemini-2.5-pro", "claude-sonnet-4-20250514", "my-model"] {
                let (path, body) = clientRequest(dialect, model: model, stream: false, scenario: "image_base64")
                let (status, _, reply) = try await client.call(path, body)
                #expect(status == 200, "\(dialect) → \(model): \(reply.prefix(200))")
                #expect(fake.requests.last?.body.contains("iVBORw0KGgo") == true, "\(dialect) → \(model): the image was sent")
            }
        }
    }

    @Test func roundRobinAcrossKeys() async throws {
        let fake = FakeUpstream(dialectUpstream())
        try await fake.start(); defer { fake.stop() }
        let server = try await TestServer(yaml: config(fake, geminiKeys: ["g-key-1", "g-key-2", "g-key-3"])); defer { server.stop() }
        let client = Client(base: server.base)
        for _ in 0..<6 {
            let (path, body) = clientRequest("openai", model: "gemini-2.5-pro", stream: false)
            #expect(try await client.call(path, body).0 == 200)
        }
        let keys = fake.requests.compactMap { $0.header("x-goog-api-key") }
        #expect(keys.count == 6)
        #expect(Set(keys) == ["g-key-1", "g-key-2", "g-key-3"])
        #expect(keys[0] != keys[1] && keys[1] != keys[2] && keys[0] == keys[3], "rotates: \(keys)")
    }

    @Test func cooldownAndFailoverOn429() async throws {
        let fake = FakeUpstream(dialectUpstream())
        let normal = dialectUpstream()
        fake.set { req in
            if req.header("x-goog-api-key") == "g-key-1" {
                return .json(429, Array(#"{"error":{"code":429,"message":"Resource has been exhausted","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"60s"}]}}"#.utf8))
            }
            return normal(req)
        }
        try await fake.start(); defer { fake.stop() }
        let server = try await TestServer(yaml: config(fake)); defer { server.stop() }
        let client = Client(base: server.base)
        for _ in 0..<4 {
            let (path, body) = clientRequest("claude", model: "gemini-2.5-pro", stream: false)
            let (status, _, reply) = try await client.call(path, body)
            #expect(status == 200, "\(reply.prefix(200))")
        }
        let keys = fake.requests.compactMap { $0.header("x-goog-api-key") }
        #expect(keys.filter { $0 == "g-key-1" }.count == 1, "the 429'd key is cooling for 60 s: \(keys)")
        #expect(keys.filter { $0 == "g-key-2" }.count == 4)
        let cooling = server.server.store.health.snapshot(now: RuleEngineClock.now())
        #expect(cooling.count == 1 && cooling[0].secondsLeft > 50)
    }

    @Test func everyCandidateCoolingAnswers429WithRetryAfter() async throws {
        let fake = FakeUpstream { _ in .json(429, Array(#"{"type":"error","error":{"type":"rate_limit_error","message":"Number of requests has exceeded your rate limit"}}"#.utf8), headers: [("retry-after", "30")]) }
        try await fake.start(); defer { fake.stop() }
        let server = try await TestServer(yaml: config(fake)); defer { server.stop() }
        let client = Client(base: server.base)
        let (path, body) = clientRequest("openai", model: "claude-sonnet-4-20250514", stream: false)
        let (s1, h1, r1) = try await client.call(path, body)
        #expect(s1 == 429)
        #expect(header(h1, "retry-after") == "30", "\(h1)")
        #expect(r1.contains("rate limit"), "\(r1)")
        // Now the only credential is cooling: answered at once, without calling the upstream.
        let calls = fake.requests.count
        let (s2, h2, r2) = try await client.call(path, body)
        #expect(s2 == 429)
        #expect(Int(header(h2, "retry-after") ?? "0") ?? 0 > 0)
        #expect(r2.contains("cooling down"), "\(r2)")
        #expect(fake.requests.count == calls)
        // In the Gemini dialect too.
        let (gp, gb) = clientRequest("gemini", model: "claude-sonnet-4-20250514", stream: false)
        let (s3, _, r3) = try await client.call(gp, gb)
        #expect(s3 == 429 && r3.contains("RESOURCE_EXHAUSTED"), "\(r3)")
    }

    @Test func requestRetryRetriesServerErrors() async throws {
        let fails = Atomic<Int>(0)
        let normal = dialectUpstream()
        let fake = FakeUpstream { req in
            if fails.add(1, ordering: .relaxed).oldValue < 2 { return .json(503, Array(#"{"error":{"message":"busy","type":"server_error"}}"#.utf8)) }
            return normal(req)
        }
        try await fake.start(); defer { fake.stop() }
        let retrying = try await TestServer(yaml: config(fake, extra: "request-retry: 2")); defer { retrying.stop() }
        let (path, body) = clientRequest("openai", model: "my-model", stream: false)
        let (status, _, reply) = try await Client(base: retrying.base).call(path, body)
        #expect(status == 200, "\(reply)")
        #expect(fake.requests.count == 3)

        fails.store(0, ordering: .relaxed)
        let strict = try await TestServer(yaml: config(fake, extra: "request-retry: 0")); defer { strict.stop() }
        let (s2, _, r2) = try await Client(base: strict.base).call(path, body)
        #expect(s2 == 503, "\(r2)")
        #expect(r2.contains("busy"), "the upstream's message is kept: \(r2)")
    }

    @Test func unknownModelsAndMissingCredentials() async throws {
        let fake = FakeUpstream(dialectUpstream())
        try await fake.start(); defer { fake.stop() }
        let server = try await TestServer(yaml: "port: 8317\nupstreams: {gemini: {base-url: \"\(fake.url)\"}}\n"); defer { server.stop() }
        let client = Client(base: server.base)
        let (s1, _, r1) = try await client.call("/v1/chat/completions", #"{"model":"no-such-model","messages":[{"role":"user","content":"hi"}]}"#)
        #expect(s1 == 404 && r1.contains("/v1/models"), "\(r1)")
        let (s2, _, r2) = try await client.call("/v1/messages", #"{"model":"gemini-2.5-pro","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#)
        #expect(s2 == 403, "\(r2)")
        #expect(r2.contains("no credentials for model gemini-2.5-pro") && r2.contains("\"type\":\"error\""), "\(r2)")
        #expect(fake.requests.isEmpty)
    }

    @Test func apiKeysAreChecked() async throws {
        let fake = FakeUpstream(dialectUpstream())
        try await fake.start(); defer { fake.stop() }
        let server = try await TestServer(yaml: config(fake, extra: "api-keys: [\"client-key-1\"]\nhost: 127.0.0.1")); defer { server.stop() }
        let client = Client(base: server.base)
        let (path, body) = clientRequest("openai", model: "my-model", stream: false)
        let (s0, _, r0) = try await client.call(path, body)
        #expect(s0 == 401 && r0.contains("missing API key"), "\(r0)")
        let (s1, _, r1) = try await client.call(path, body, headers: [("authorization", "Bearer wrong-key")])
        #expect(s1 == 401 && r1.contains("invalid API key"), "\(r1)")
        for h in [("authorization", "Bearer client-key-1"), ("x-api-key", "client-key-1"), ("x-goog-api-key", "client-key-1")] {
            #expect(try await client.call(path, body, headers: [h]).0 == 200, "\(h.0)")
        }
        #expect(try await client.call(path + "?key=client-key-1", body).0 == 200)
        let (gs, _, gr) = try await client.call("/v1beta/models/gemini-2.5-pro:generateContent", "{}")
        #expect(gs == 401 && gr.contains("UNAUTHENTICATED"), "\(gr)")
        let (ms, _, mr) = try await client.call("/v1/models", method: "GET")
        #expect(ms == 401, "\(mr)")
    }

    @Test func badInputIsA4xxInTheEndpointsDialect() async throws {
        let fake = FakeUpstream(dialectUpstream())
        try await fake.start(); defer { fake.stop() }
        let server = try await TestServer(yaml: config(fake, extra: "max-body-size: 4096")); defer { server.stop() }
        let client = Client(base: server.base)
        let cases: [(String, String, String, [(String, String)], Int, String)] = [
            ("POST", "/v1/chat/completions", "{not json", [], 400, "\"invalid_request_error\""),
            ("POST", "/v1/messages", "{not json", [], 400, "\"type\":\"error\""),
            ("POST", "/v1beta/models/gemini-2.5-pro:generateContent", "[1,", [], 400, "INVALID_ARGUMENT"),
            ("POST", "/v1/responses", #"{"model":"my-model"}"#, [], 400, "input"),
            ("POST", "/v1/messages", #"{"model":"my-model","messages":[]}"#, [], 400, "max_tokens"),
            ("POST", "/v1/chat/completions", String(repeating: "x", count: 5000), [], 413, "max-body-size"),
            ("POST", "/v1/chat/completions", "{}", [("content-type", "multipart/form-data; boundary=x")], 415, "application/json"),
            ("GET", "/v1/chat/completions", "", [], 405, "POST"),
            ("POST", "/v1beta/models/gemini-2.5-pro:frobnicate", "{}", [], 404, "NOT_FOUND"),
            ("GET", "/v2/nothing", "", [], 404, "GET /"),
            ("POST", "/v1/chat/completions", #"{"model":"my-model","messages":[{"role":"user","content":"\#u{FFFD}"}]}"#, [], 200, ""),
        ]
        for (method, path, body, headers, want, contains) in cases {
            let (status, _, reply) = try await client.call(path, body, method: method, headers: headers)
            #expect(status == want, "\(method) \(path): \(status) \(reply.prefix(200))")
            #expect(contains.isEmpty || reply.contains(contains), "\(method) \(path): \(reply.prefix(300))")
        }
        // Invalid UTF-8 in a body.
        let raw = UpstreamRequest(method: "POST", url: server.base + "/v1/messages", headers: [("content-type", "application/json")],
                                  body: Array(#"{"model":"my-model","max_tokens":5,"messages":[{"role":"user","content":""#.utf8) + [0xFF, 0xFE] + Array(#""}]}"#.utf8))
        let (head, reply) = try await Client.transport.send(raw, options: Client(base: server.base).options)
        #expect(head.status == 400 && String(decoding: reply, as: UTF8.self).contains("UTF-8"))
        // Still serving.
        #expect(try await client.call("/healthz", method: "GET").0 == 200)
    }

    @Test func modelListsShowWhatCanBeRouted() async throws {
        let fake = FakeUpstream(dialectUpstream())
        try await fake.start(); defer { fake.stop() }
        let server = try await TestServer(yaml: config(fake)); defer { server.stop() }
        let client = Client(base: server.base)
        let (s1, _, openai) = try await client.call("/v1/models", method: "GET")
        #expect(s1 == 200 && openai.contains("\"object\":\"list\"") && openai.contains("my-model") && openai.contains("gemini-2.5-pro") && openai.contains("claude-sonnet-4-20250514"), "\(openai)")
        let (s2, _, claude) = try await client.call("/v1/models", method: "GET", headers: [("anthropic-version", "2023-06-01")])
        #expect(s2 == 200 && claude.contains("\"type\":\"model\"") && claude.contains("has_more"), "\(claude)")
        let (s3, _, gemini) = try await client.call("/v1beta/models", method: "GET")
        #expect(s3 == 200 && gemini.contains("models/gemini-2.5-pro"), "\(gemini)")
        let (s4, _, one) = try await client.call("/v1beta/models/gemini-2.5-flash", method: "GET")
        #expect(s4 == 200 && one.contains("models/gemini-2.5-flash"), "\(one)")
        #expect(try await client.call("/v1beta/models/nope", method: "GET").0 == 404)
    }

    @Test func countTokensUpstreamOrEstimated() async throws {
        let fake = FakeUpstream(dialectUpstream())
        try await fake.start(); defer { fake.stop() }
        let server = try await TestServer(yaml: config(fake)); defer { server.stop() }
        let client = Client(base: server.base)
        let body = #"{"model":"claude-sonnet-4-20250514","messages":[{"role":"user","content":"How many tokens is this?"}]}"#
        let (s1, _, r1) = try await client.call("/v1/messages/count_tokens", body)
        #expect(s1 == 200 && r1 == #"{"input_tokens":42}"#, "\(r1)")
        #expect(fake.requests.last?.path == "/v1/messages/count_tokens")
        let (s2, _, r2) = try await client.call("/v1beta/models/gemini-2.5-pro:countTokens", #"{"contents":[{"parts":[{"text":"hello"}]}]}"#)
        #expect(s2 == 200 && r2.contains("\"totalTokens\":42"), "\(r2)")
        // The OpenAI-compatible upstream has no count operation: a local estimate.
        let calls = fake.requests.count
        let (s3, _, r3) = try await client.call("/v1/messages/count_tokens", body.replacingModel(with: "my-model"))
        #expect(s3 == 200 && r3.contains("input_tokens"), "\(r3)")
        #expect(fake.requests.count == calls)
    }
}

enum RuleEngineClock {
    static func now() -> UInt64 { RuleEngine.Clock.nanoseconds() }
}

@Suite(.serialized) struct RequestLogTests {
    @Test func requestLogWritesExchangesWithCredentialsRedacted() async throws {
        let fake = FakeUpstream(dialectUpstream())
        try await fake.start(); defer { fake.stop() }
        let server = try await TestServer(yaml: config(fake, extra: "request-log: true\napi-keys: [\"client-secret-key-42\"]\nhost: 127.0.0.1")); defer { server.stop() }
        let client = Client(base: server.base)
        for (dialect, model) in [("openai", "my-model"), ("claude", "gemini-2.5-pro"), ("gemini", "claude-sonnet-4-20250514")] {
            let (path, body) = clientRequest(dialect, model: model, stream: dialect == "claude")
            #expect(try await client.call(path, body, headers: [("authorization", "Bearer client-secret-key-42")]).0 == 200)
        }
        let logs = server.directory + "/logs"
        let files = FileSystem.list(logs)
        #expect(files.count == 3, "\(files)")
        let all = files.compactMap { FileSystem.readText(logs + "/" + $0) }.joined(separator: "\n")
        #expect(all.contains("=== client request") && all.contains("=== upstream request") && all.contains("=== client response"))
        #expect(all.contains("Florence"), "bodies are logged")
        for secret in ["client-secret-key-42", "o-key-1", "g-key-1", "g-key-2", "c-key-1"] {
            #expect(!all.contains(secret), "\(secret) leaked into the request log")
        }
        #expect(all.contains("[redacted]"))
    }

    /// With request-log off, only exchanges that end in an error are written
    /// (error-*.log), credentials redacted, and only the newest 100 stay.
    @Test func errorExchangesAreKeptWhenTheLogIsOff() async throws {
        let fake = FakeUpstream { r in
            r.body.contains("\"please-fail\"") ? .json(400, Array(#"{"error":{"message":"bad tool schema","type":"invalid_request_error"}}"#.utf8))
                                                : .json(200, Repo.fixture("openai-openai", "text", "upstream_response.json"))
        }
        try await fake.start(); defer { fake.stop() }
        let server = try await TestServer(yaml: config(fake, extra: "api-keys: [\"client-secret-key-42\"]\nhost: 127.0.0.1")); defer { server.stop() }
        let client = Client(base: server.base)
        let key = [("authorization", "Bearer client-secret-key-42")]
        #expect(try await client.call("/v1/chat/completions", #"{"model":"my-model","messages":[{"role":"user","content":"fine"}]}"#, headers: key).0 == 200)
        #expect(try await client.call("/v1/chat/completions", #"{"model":"my-model","messages":[{"role":"user","content":"please-fail"}]}"#, headers: key).0 == 400)
        let logs = server.directory + "/logs"
        let files = FileSystem.list(logs)
        #expect(files.count == 1 && files[0].hasPrefix("error-"), "\(files)")
        let text = files.first.flatMap { FileSystem.readText(logs + "/" + $0) } ?? ""
        #expect(text.contains("please-fail") && text.contains("bad tool schema") && text.contains("status 400"), "\(text)")
        #expect(!text.contains("client-secret-key-42") && !text.contains("o-key-1"))

        // Bounded: the newest 100 error exchanges stay.
        for i in 0..<105 {
            _ = try await client.call("/v1/chat/completions", #"{"model":"no-such-model-\#(i)","messages":[]}"#, headers: key)
        }
        #expect(FileSystem.list(logs).filter { $0.hasPrefix("error-") }.count == RequestLog.keptErrors)
    }
}
