import CLIProxyServer
import RuleEngine
import Testing
import UpstreamTransport

/// Every client dialect against every subscription upstream, streamed and
/// not, with tools: the real server, real rules and a real account file per
/// provider; only the upstreams are fakes on 127.0.0.1.
@Suite(.serialized) struct AccountUpstreamTests {
    static let models = ["gemini-cli": "gemini-2.5-pro", "codex": "gpt-5", "claude": "claude-sonnet-4-20250514", "qwen": "qwen3-coder-plus"]

    /// The fake's answer for one provider: the dialect fixture's `tools`
    /// upstream files in the provider's wire shape.
    static func reply(provider: String, _ r: SeenRequest) -> FakeReply {
        let streaming = r.path.contains("stream") || r.body.contains("\"stream\":true")
        switch provider {
        case "gemini-cli":
            if r.path.contains("streamGenerateContent") {
                return .stream([Accounts.envelopeStream(Repo.fixture("gemini-gemini", "tools", "upstream_stream.sse"))])
            }
            return .json(200, Accounts.envelope(Repo.fixture("gemini-gemini", "tools", "upstream_response.json")))
        case "codex":
            return .stream([Repo.fixture("responses-responses", "tools", "upstream_stream.sse")])
        case "claude":
            return streaming ? .stream([Repo.fixture("claude-claude", "tools", "upstream_stream.sse")])
                             : .json(200, Repo.fixture("claude-claude", "tools", "upstream_response.json"))
        default:
            return streaming ? .stream([Repo.fixture("openai-openai", "tools", "upstream_stream.sse")])
                             : .json(200, Repo.fixture("openai-openai", "tools", "upstream_response.json"))
        }
    }

    /// What every provider must have been sent, checked on each upstream request.
    static func checkUpstream(_ provider: String, _ r: SeenRequest, model: String, stream: Bool) {
        switch provider {
        case "gemini-cli":
            #expect(r.path.hasPrefix(stream ? "/v1internal:streamGenerateContent" : "/v1internal:generateContent"), "\(r.path)")
            #expect(r.header("authorization") == "Bearer ya29.gem")
            #expect(r.body.contains(#""project":"proj-1""#), "\(r.body.prefix(200))")
            #expect(r.body.contains(#""model":"gemini-2.5-pro""#))
            #expect(r.body.contains(#""request":{"#))
        case "codex":
            #expect(r.path == "/responses")
            #expect(r.header("authorization") == "Bearer codex-at")
            #expect(r.header("chatgpt-account-id") == "acct-1")
            #expect(r.body.contains(#""stream":true"#), "Codex is always streamed")
            #expect(r.body.contains(#""store":false"#))
            #expect(r.body.contains(#""instructions":"#))
        case "claude":
            #expect(r.path.hasPrefix("/v1/messages"))
            #expect(r.header("authorization") == "Bearer sk-ant-oat01-a")
            #expect(r.header("x-api-key") == nil, "an OAuth token is a bearer token")
            #expect(r.header("anthropic-beta")?.contains("oauth-2025-04-20") == true)
            #expect(r.body.contains("You are Claude Code, Anthropic's official CLI for Claude."))
        default:
            #expect(r.path == "/v1/chat/completions", "the account's resource_url + /v1")
            #expect(r.header("authorization") == "Bearer qwen-at")
            #expect(r.header("x-dashscope-authtype") == "qwen-oauth")
        }
    }

    @Test(arguments: ["gemini-cli", "codex", "claude", "qwen"])
    func everyClientDialect(provider: String) async throws {
        let fake = FakeUpstream { r in Self.reply(provider: provider, r) }
        try await fake.start()
        defer { fake.stop() }
        let files: [String: String] = switch provider {
        case "gemini-cli": ["gemini-g@example.com-proj-1.json": Accounts.gemini()]
        case "codex": ["codex-c@example.com-plus.json": Accounts.codex()]
        case "claude": ["claude-a@example.com.json": Accounts.claude()]
        default: ["qwen-1.json": Accounts.qwen(resource: fake.url)]
        }
        let upstreams = provider == "qwen" ? "" : "upstreams:\n  \(provider):\n    base-url: \(fake.url)\n"
        let server = try await TestServer(yaml: "port: 8317\n" + upstreams, authFiles: files)
        defer { server.stop() }
        let client = Client(base: server.base)
        let model = Self.models[provider]!
        for dialect in ["openai", "responses", "claude", "gemini"] {
            for stream in [false, true] {
                let call = ClientCall(dialect: dialect, model: model, stream: stream)
                let before = fake.requests.count
                let (status, _, text) = try await client.call(call.path, call.body())
                let label = "\(dialect) client → \(provider), stream \(stream)"
                #expect(status == 200, "\(label): \(text.prefix(400))")
                #expect(text.contains(call.toolMarker), "\(label): no tool call in \(text.prefix(600))")
                #expect(text.contains(call.endMarker), "\(label): incomplete: \(text.suffix(300))")
                let sent = fake.requests.dropFirst(before)
                #expect(sent.count == 1, "\(label): \(sent.count) upstream calls")
                if let r = sent.first { Self.checkUpstream(provider, r, model: model, stream: stream || provider == "codex") }
            }
        }
    }
}
