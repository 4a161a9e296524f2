import CLIProxyServer
import RuleEngine
import Synchronization
import Testing
import UpstreamTransport
#if canImport(Glibc)
import Glibc
#endif

/// Accounts on the request path: refresh ahead of expiry and after a 401,
/// single-flight refreshes, failure isolation, round-robin, quota cooldowns
/// and fallbacks, hot add/remove, and the Gemini CLI relay.
@Suite(.serialized) struct AccountRoutingTests {
    static let claudeModel = "claude-sonnet-4-20250514"

    /// A Claude upstream answering the `text` scenario, with a handler for
    /// special cases; and a token endpoint handing out `fresh-N` tokens.
    static func claudeText() -> FakeReply { .json(200, Repo.fixture("claude-claude", "text", "upstream_response.json")) }

    static func config(upstream: FakeUpstream, tokens: FakeUpstream? = nil, extra: String = "") -> String {
        var y = "port: 8317\nupstreams:\n  claude:\n    base-url: \(upstream.url)\n"
        if let tokens { y += "    token-url: \(tokens.url)/token\n" }
        return y + extra
    }

    static func ask(_ server: TestServer, _ model: String = claudeModel) async throws -> (Int, [(String, String)], String) {
        try await Client(base: server.base).call("/v1/chat/completions", #"{"model":"\#(model)","messages":[{"role":"user","content":"hi"}]}"#)
    }

    static func tokenEndpoint(_ counter: Counter, status: @escaping @Sendable (SeenRequest) -> Int = { _ in 200 }) -> FakeUpstream {
        FakeUpstream { r in
            let code = status(r)
            if code != 200 { return .json(code, Array(#"{"error":"invalid_grant","error_description":"refresh token revoked"}"#.utf8)) }
            let n = counter.next()
            return .json(200, Array(#"{"access_token":"fresh-\#(n)","refresh_token":"rotated-\#(n)","expires_in":28800,"token_type":"Bearer"}"#.utf8))
        }
    }

    @Test func refreshAheadOfExpiryThenUseTheNewToken() async throws {
        let refreshes = Counter()
        let tokens = Self.tokenEndpoint(refreshes)
        let up = FakeUpstream { _ in Self.claudeText() }
        try await tokens.start(); try await up.start()
        defer { tokens.stop(); up.stop() }
        // Expires in 10 minutes: inside Claude's 4 h lead, so the first request refreshes first.
        let soon = RFC3339Text.inSeconds(600)
        let server = try await TestServer(yaml: Self.config(upstream: up, tokens: tokens), authFiles: ["claude-a@example.com.json": Accounts.claude(expired: soon)])
        defer { server.stop() }
        let (status, _, text) = try await Self.ask(server)
        #expect(status == 200, "\(text)")
        #expect(refreshes.count == 1)
        #expect(up.requests.last?.header("authorization") == "Bearer fresh-1")
        let refresh = tokens.requests.first?.body ?? ""
        #expect(refresh.contains("refresh_token") && refresh.contains("sk-ant-ort01-a"), "\(refresh)")
        // Written back before use, atomically and private.
        let file = String(decoding: FileSystem.readBytes(server.authDir + "/claude-a@example.com.json") ?? [], as: UTF8.self)
        #expect(file.contains("fresh-1") && file.contains("rotated-1"))
        var st = stat()
        #expect(stat(server.authDir + "/claude-a@example.com.json", &st) == 0 && st.st_mode & 0o777 == 0o600)
    }

    @Test func unauthorizedRefreshesOnceAndRetries() async throws {
        let refreshes = Counter()
        let tokens = Self.tokenEndpoint(refreshes)
        let up = FakeUpstream { r in
            r.header("authorization") == "Bearer sk-ant-oat01-a"
                ? .json(401, Array(#"{"type":"error","error":{"type":"authentication_error","message":"token expired"}}"#.utf8))
                : Self.claudeText()
        }
        try await tokens.start(); try await up.start()
        defer { tokens.stop(); up.stop() }
        let server = try await TestServer(yaml: Self.config(upstream: up, tokens: tokens), authFiles: ["claude-a@example.com.json": Accounts.claude()])
        defer { server.stop() }
        let (status, _, text) = try await Self.ask(server)
        #expect(status == 200, "\(text)")
        #expect(refreshes.count == 1)
        #expect(up.requests.map { $0.header("authorization") ?? "" } == ["Bearer sk-ant-oat01-a", "Bearer fresh-1"])
    }

    @Test func hundredConcurrentRequestsOnAnExpiredTokenRefreshOnce() async throws {
        let refreshes = Counter()
        let tokens = Self.tokenEndpoint(refreshes)
        let up = FakeUpstream { _ in Self.claudeText() }
        try await tokens.start(); try await up.start()
        defer { tokens.stop(); up.stop() }
        let server = try await TestServer(yaml: Self.config(upstream: up, tokens: tokens),
                                          authFiles: ["claude-a@example.com.json": Accounts.claude(expired: "2020-01-01T00:00:00Z")])
        defer { server.stop() }
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<100 { group.addTask { try await Self.ask(server).0 } }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(statuses.count == 100 && statuses.allSatisfy { $0 == 200 }, "\(Set(statuses))")
        #expect(refreshes.count == 1)
        #expect(up.requests.allSatisfy { $0.header("authorization") == "Bearer fresh-1" })
    }

    @Test func aFailingRefreshIsolatesOneAccount() async throws {
        let refreshes = Counter()
        // Account a's refresh token is revoked; b's works.
        let tokens = Self.tokenEndpoint(refreshes) { r in r.body.contains("ort01-a") ? 400 : 200 }
        let up = FakeUpstream { _ in Self.claudeText() }
        try await tokens.start(); try await up.start()
        defer { tokens.stop(); up.stop() }
        let expired = "2020-01-01T00:00:00Z"
        let server = try await TestServer(yaml: Self.config(upstream: up, tokens: tokens), authFiles: [
            "claude-a@example.com.json": Accounts.claude(token: "sk-ant-oat01-a", email: "a@example.com", expired: expired, refresh: "sk-ant-ort01-a"),
            "claude-b@example.com.json": Accounts.claude(token: "sk-ant-oat01-b", email: "b@example.com", expired: expired, refresh: "sk-ant-ort01-b"),
        ])
        defer { server.stop() }
        for _ in 0..<4 {
            let (status, _, text) = try await Self.ask(server)
            #expect(status == 200, "\(text)")
        }
        #expect(up.requests.count == 4)
        #expect(up.requests.allSatisfy { $0.header("authorization") == "Bearer fresh-1" }, "only b's refreshed token is used")
        // a was tried once and not again (it needs a new login).
        #expect(tokens.requests.filter { $0.body.contains("ort01-a") }.count == 1)
        let a = server.server.store.state.accounts?.accounts.first { $0.id == "claude-a@example.com.json" }
        if case .needsLogin(let why)? = a?.status { #expect(!why.isEmpty) } else { Issue.record("a's status: \(String(describing: a?.status))") }
    }

    /// Two valid Claude accounts, a@ and b@, with tokens `sk-ant-oat01-a` / `-b`.
    static let twoClaudeAccounts = [
        "claude-a@example.com.json": Accounts.claude(token: "sk-ant-oat01-a", email: "a@example.com"),
        "claude-b@example.com.json": Accounts.claude(token: "sk-ant-oat01-b", email: "b@example.com"),
    ]

    @Test func twoAccountsAreRoundRobined() async throws {
        let up = FakeUpstream { _ in Self.claudeText() }
        try await up.start()
        defer { up.stop() }
        let server = try await TestServer(yaml: Self.config(upstream: up), authFiles: Self.twoClaudeAccounts)
        defer { server.stop() }
        for _ in 0..<4 { #expect(try await Self.ask(server).0 == 200) }
        let used = up.requests.map { $0.header("authorization") ?? "" }
        #expect(used.count == 4)
        #expect(Set(used) == ["Bearer sk-ant-oat01-a", "Bearer sk-ant-oat01-b"])
        #expect(used[0] != used[1] && used[0] == used[2] && used[1] == used[3], "\(used)")
    }

    @Test func rateLimitedAccountCoolsAndTheOtherServes() async throws {
        let up = FakeUpstream { r in
            r.header("authorization") == "Bearer sk-ant-oat01-a"
                ? .json(429, Array(#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}"#.utf8), headers: [("retry-after", "120")])
                : Self.claudeText()
        }
        try await up.start()
        defer { up.stop() }
        let server = try await TestServer(yaml: Self.config(upstream: up), authFiles: Self.twoClaudeAccounts)
        defer { server.stop() }
        for _ in 0..<4 { #expect(try await Self.ask(server).0 == 200) }
        let used = up.requests.map { $0.header("authorization") ?? "" }
        // a answered 429 once (wherever the rotation put it first); after that only b.
        #expect(used.filter { $0 == "Bearer sk-ant-oat01-a" }.count == 1, "\(used)")
        #expect(used.filter { $0 == "Bearer sk-ant-oat01-b" }.count == 4, "\(used)")
        let cooling = server.server.store.health.snapshot(now: Clock.nanoseconds())
        #expect(cooling.count == 1 && cooling[0].credential.contains("claude-a") && cooling[0].secondsLeft > 100, "\(cooling)")
    }

    @Test func allAccountsCoolingGives429WithRetryAfter() async throws {
        let up = FakeUpstream { _ in
            .json(429, Array(#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}"#.utf8), headers: [("retry-after", "90")])
        }
        try await up.start()
        defer { up.stop() }
        let server = try await TestServer(yaml: Self.config(upstream: up), authFiles: ["claude-a@example.com.json": Accounts.claude()])
        defer { server.stop() }
        #expect(try await Self.ask(server).0 == 429)
        let (status, headers, text) = try await Self.ask(server)
        #expect(status == 429)
        #expect(up.requests.count == 1, "the cooling account is not called again")
        #expect(Int(header(headers, "retry-after") ?? "") ?? 0 > 60, "\(headers)")
        #expect(text.contains("cooling down"), "\(text)")
    }

    @Test func switchPreviewModelFallsBackOnTheSameAccount() async throws {
        // A rules copy whose gemini-cli provider lists a preview fallback.
        let rules = try RulesCopy(patching: "providers/gemini-cli.json") { text in
            text.replacingOccurrences(of: #""preview_fallback": {}"#, with: #""preview_fallback": {"gemini-2.5-pro": ["gemini-2.5-pro-preview-test"]}"#)
        }
        defer { rules.remove() }
        let up = FakeUpstream { r in
            r.body.contains(#""model":"gemini-2.5-pro""#)
                ? .json(429, Array(#"{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED"}}"#.utf8))
                : .json(200, Accounts.envelope(Repo.fixture("gemini-gemini", "text", "upstream_response.json")))
        }
        try await up.start()
        defer { up.stop() }
        let server = try await TestServer(yaml: "port: 8317\nupstreams:\n  gemini-cli:\n    base-url: \(up.url)\n", rules: rules.path,
                                          authFiles: ["gemini-g@example.com-proj-1.json": Accounts.gemini()])
        defer { server.stop() }
        let (status, _, text) = try await Self.ask(server, "gemini-2.5-pro")
        #expect(status == 200, "\(text)")
        #expect(up.requests.count == 2)
        #expect(up.requests.last?.body.contains(#""model":"gemini-2.5-pro-preview-test""#) == true)
    }

    @Test func accountsComeAndGoWithTheirFiles() async throws {
        let up = FakeUpstream { _ in Self.claudeText() }
        try await up.start()
        defer { up.stop() }
        let server = try await TestServer(yaml: Self.config(upstream: up), reload: true)
        defer { server.stop() }
        #expect(try await Self.ask(server).0 == 403, "no account yet")
        FileSystem.write(server.authDir + "/claude-a@example.com.json", Accounts.claude())
        #expect(try await eventually { try await Self.ask(server).0 == 200 }, "added without a restart")
        // A broken file beside it is skipped; the good one keeps serving.
        FileSystem.write(server.authDir + "/claude-broken.json", "{\"type\":\"claude\",\"access_")
        try await Task.sleep(for: .milliseconds(400))
        #expect(try await Self.ask(server).0 == 200)
        unlink(server.authDir + "/claude-a@example.com.json")
        #expect(try await eventually { try await Self.ask(server).0 == 403 }, "removed without a restart")
    }

    @Test func modelAliasesCarryTheirReasoningEffort() async throws {
        let up = FakeUpstream { _ in .stream([Repo.fixture("responses-responses", "text", "upstream_stream.sse")]) }
        try await up.start()
        defer { up.stop() }
        let server = try await TestServer(yaml: "port: 8317\nupstreams:\n  codex:\n    base-url: \(up.url)\n",
                                          authFiles: ["codex-c@example.com.json": Accounts.codex()])
        defer { server.stop() }
        let (status, _, text) = try await Client(base: server.base).call("/v1/messages",
            #"{"model":"gpt-5-minimal","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}"#)
        #expect(status == 200, "\(text)")
        let sent = up.requests.first?.body ?? ""
        #expect(sent.contains(#""model":"gpt-5""#), "\(sent)")
        #expect(sent.contains(#""effort":"minimal""#), "\(sent)")
        // Listed for clients, with the base model.
        let (_, _, list) = try await Client(base: server.base).call("/v1/models", method: "GET")
        #expect(list.contains("\"gpt-5-minimal\"") && list.contains("\"gpt-5\""), "\(list.prefix(300))")
    }

    /// One account of each kind lists the models the existing product
    /// documents, in both list dialects; `upstreams.qwen.base-url` wins over
    /// the account's own `resource_url` (which points nowhere here).
    @Test func signedInAccountsListTheirModelsAndAnOverrideWinsOverResourceURL() async throws {
        let up = FakeUpstream { _ in .json(200, Repo.fixture("openai-openai", "text", "upstream_response.json")) }
        try await up.start()
        defer { up.stop() }
        let server = try await TestServer(yaml: "port: 8317\nupstreams:\n  qwen:\n    base-url: \(up.url)/v1\n", authFiles: [
            "gemini-g@example.com-proj-1.json": Accounts.gemini(),
            "codex-c@example.com-plus.json": Accounts.codex(),
            "claude-a@example.com.json": Accounts.claude(),
            "qwen-q.json": Accounts.qwen(resource: "127.0.0.1:1"),
        ])
        defer { server.stop() }
        let client = Client(base: server.base)
        let (status, _, list) = try await client.call("/v1/models", method: "GET")
        #expect(status == 200)
        for model in ["gemini-2.5-pro", "gemini-2.5-flash", "gpt-5", "gpt-5-minimal", "gpt-5-low", "gpt-5-medium", "gpt-5-high",
                      "claude-opus-4-1-20250805", "claude-opus-4-20250514", "claude-sonnet-4-20250514",
                      "claude-3-7-sonnet-20250219", "claude-3-5-haiku-20241022", "qwen3-coder-plus", "qwen3-coder-flash"] {
            #expect(list.contains("\"\(model)\""), "\(model) missing from /v1/models")
        }
        let (_, _, gemini) = try await client.call("/v1beta/models", method: "GET")
        #expect(gemini.contains("models/gemini-2.5-pro"), "\(gemini.prefix(300))")

        let (asked, _, text) = try await client.call("/v1/chat/completions", #"{"model":"qwen3-coder-plus","messages":[{"role":"user","content":"hi"}]}"#)
        #expect(asked == 200, "\(text)")
        #expect(up.requests.first?.path == "/v1/chat/completions")
        #expect(up.requests.first?.header("authorization") == "Bearer qwen-at")
    }

    @Test func codeAssistRelayPoolsGenerateAndRelaysTheRest() async throws {
        let up = FakeUpstream { r in
            if r.path.hasPrefix("/v1internal:streamGenerateContent") {
                return .stream([Accounts.envelopeStream(Repo.fixture("gemini-gemini", "text", "upstream_stream.sse"))])
            }
            if r.path.hasPrefix("/v1internal:generateContent") {
                return .json(200, Accounts.envelope(Repo.fixture("gemini-gemini", "text", "upstream_response.json")))
            }
            return .json(200, Array(#"{"currentTier":{"id":"free-tier"},"cloudaicompanionProject":"cli-own"}"#.utf8))
        }
        try await up.start()
        defer { up.stop() }
        let server = try await TestServer(yaml: "port: 8317\nupstreams:\n  gemini-cli:\n    base-url: \(up.url)\n",
                                          authFiles: ["gemini-g@example.com-proj-1.json": Accounts.gemini()])
        defer { server.stop() }
        let client = Client(base: server.base)
        let envelope = #"{"model":"gemini-2.5-pro","project":"cli-own","user_prompt_id":"u1","request":{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}}"#
        let (status, _, text) = try await client.call("/v1internal:generateContent", envelope, headers: [("authorization", "Bearer cli-own-token")])
        #expect(status == 200, "\(text)")
        #expect(text.contains("\"response\""), "answered in the envelope, as the CLI expects")
        let pooled = up.requests.last
        #expect(pooled?.header("authorization") == "Bearer ya29.gem", "the pool's token, not the CLI's")
        #expect(pooled?.body.contains(#""project":"proj-1""#) == true && pooled?.body.contains("user_prompt_id") == true, "\(pooled?.body ?? "")")

        let (sStatus, _, sText) = try await client.call("/v1internal:streamGenerateContent?alt=sse", envelope)
        #expect(sStatus == 200)
        #expect(sText.contains("data: {\"response\""), "\(sText.prefix(200))")

        // Anything else goes through as it came, with the CLI's own token.
        let (lStatus, _, lText) = try await client.call("/v1internal:loadCodeAssist", #"{"metadata":{"pluginType":"GEMINI"}}"#,
                                                        headers: [("authorization", "Bearer cli-own-token")])
        #expect(lStatus == 200 && lText.contains("free-tier"))
        #expect(up.requests.last?.path == "/v1internal:loadCodeAssist")
        #expect(up.requests.last?.header("authorization") == "Bearer cli-own-token")

        // A request naming another host is refused (loopback clients only).
        let before = up.requests.count
        let (fStatus, _, fText) = try await client.call("/v1internal:loadCodeAssist", "{}", headers: [("host", "proxy.example.com")])
        #expect(fStatus == 403, "\(fText)")
        #expect(up.requests.count == before)
    }
}

/// RFC 3339 text for test files.
enum RFC3339Text {
    static func inSeconds(_ s: Int) -> String {
        var t = time_t(Clock.unixSeconds() + s)
        var parts = tm()
        gmtime_r(&t, &parts)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
    }
}

/// A private copy of the repository's rules with one file edited.
struct RulesCopy {
    let path: String
    init(patching rel: String, _ edit: (String) -> String) throws {
        var template = Array("/tmp/cliproxy-rules-test-XXXXXX".utf8CString)
        path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
        for file in FileSystem.walk(Repo.rules) {
            let dest = path + "/" + file
            FileSystem.makeDirectories(String(dest[..<dest.lastIndex(of: "/")!]))
            var text = FileSystem.readText(Repo.rules + "/" + file) ?? ""
            if file == rel {
                let edited = edit(text)
                if edited == text { throw RuleCompileError(["\(rel): the edit changed nothing"]) }
                text = edited
            }
            FileSystem.write(dest, text)
        }
    }
    func remove() { FileSystem.removeTree(path) }
}

extension String {
    func replacingOccurrences(of a: String, with b: String) -> String { replacing(a, with: b) }
}
