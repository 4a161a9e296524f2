import Foundation
import Accounts
import ProxyConfig
import RuleEngine
import Synchronization
import Testing
@testable import CLIProxyServer
#if canImport(Glibc)
import Glibc
#endif

/// The management API end to end through the real server: enabling, the
/// bcrypt key written back, auth and lockout, every route's happy path and
/// a refusal, and changes taking effect on the next request.
@Suite(.serialized) struct ManagementTests {
    static let key = "mgmt-secret-key-1"
    static let auth = [("Authorization", "Bearer \(key)")]
    static let claudeModel = "claude-sonnet-4-20250514"

    /// A config with comments, a management key, and a Claude key on the fake.
    static func yaml(_ up: FakeUpstream? = nil, secret: String = key, extra: String = "") -> String {
        """
        # cliproxy test config
        port: 8317   # the port

        remote-management:
          allow-remote: false
          secret-key: "\(secret)"   # plaintext until the first start
        debug: false
        request-retry: 0
        \(up.map { "claude-api-key:\n  - api-key: \"sk-ant-api-test\"\nupstreams:\n  claude:\n    base-url: \($0.url)\n" } ?? "")\(extra)
        # trailing comment
        """
    }

    static func claudeText() -> FakeReply { .json(200, Repo.fixture("claude-claude", "text", "upstream_response.json")) }

    static func call(_ s: TestServer, _ path: String, _ method: String = "GET", _ body: String = "",
                     headers: [(String, String)] = auth) async throws -> (Int, String) {
        let (status, _, text) = try await Client(base: s.base).call("/v0/management/" + path, body, method: method, headers: headers)
        return (status, text)
    }

    static func ask(_ s: TestServer, key: String? = nil) async throws -> Int {
        try await Client(base: s.base).call("/v1/chat/completions", #"{"model":"\#(claudeModel)","messages":[{"role":"user","content":"hi"}]}"#,
                                            headers: key.map { [("Authorization", "Bearer \($0)")] } ?? []).0
    }

    static func file(_ s: TestServer) -> String { String(decoding: FileSystem.readBytes(s.configPath) ?? [], as: UTF8.self) }

    // MARK: enabling and auth

    @Test func disabledWithoutAKeyEveryRouteIs404() async throws {
        let server = try await TestServer(yaml: "port: 8317\ndebug: false\n")
        defer { server.stop() }
        for (path, method) in [("config", "GET"), ("debug", "PUT"), ("api-keys", "GET"), ("auth-files", "GET"), ("config.yaml", "GET")] {
            let (status, body) = try await Self.call(server, path, method, #"{"value":true}"#)
            #expect(status == 404, "\(path)")
            #expect(body.isEmpty, "\(path): \(body)")
        }
        #expect(!Self.file(server).contains("debug: true"))
        #expect(try await Self.call(server, "no/such/route").0 == 404)
        #expect(try await Self.call(server, "no/such/route").1.isEmpty)
    }

    @Test func plaintextKeyIsHashedAndWrittenBackChangingOnlyThatScalar() async throws {
        let original = Self.yaml()
        let server = try await TestServer(yaml: original)
        defer { server.stop() }
        let written = Self.file(server)
        let before = (original + "\nauth-dir: \(server.directory)/auth\n").split(separator: "\n", omittingEmptySubsequences: false)
        let after = written.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(before.count == after.count)
        var keyLines = 0
        for (a, b) in zip(before, after) where a != b {
            keyLines += 1
            #expect(a.contains("secret-key"))
            #expect(b.hasPrefix("  secret-key: \"$2b$10$") && b.hasSuffix("\"   # plaintext until the first start"), "\(b)")
        }
        #expect(keyLines == 1)
        #expect(!written.contains(Self.key))
        let hash = String(written.split(separator: "\"").first { $0.hasPrefix("$2b$10$") } ?? "")
        #expect(Bcrypt.verify(Self.key, hash: hash))
        #expect(server.server.store.state.config.remoteManagement.secretKey.revealed == hash)
        // Both headers work, with the plaintext key.
        #expect(try await Self.call(server, "config").0 == 200)
        #expect(try await Self.call(server, "config", headers: [("X-Management-Key", Self.key)]).0 == 200)
        // Unknown management paths: 401 without the key, a JSON 404 with it.
        #expect(try await Self.call(server, "no/such/route", headers: []).0 == 401)
        let (s, body) = try await Self.call(server, "no/such/route")
        #expect(s == 404 && body.contains("not_found"), "\(body)")
    }

    @Test func aPlaintextKeyEditedInWhileRunningIsHashedOnReload() async throws {
        let server = try await TestServer(yaml: Self.yaml(), reload: true)
        defer { server.stop() }
        server.rewriteConfig(Self.yaml(secret: "second-key-2"))
        #expect(try await eventually { Self.file(server).contains("secret-key: \"$2b$10$") }, "\(Self.file(server))")
        #expect(!Self.file(server).contains("second-key-2"))
        #expect(try await eventually { try await Self.call(server, "debug", headers: [("X-Management-Key", "second-key-2")]).0 == 200 })
        #expect(try await Self.call(server, "debug").0 == 401, "the old key no longer works")
        // Clearing the key disables the API without a restart.
        server.rewriteConfig(Self.yaml(secret: ""))
        #expect(try await eventually { try await Self.call(server, "debug", headers: [("X-Management-Key", "second-key-2")]).0 == 404 })
    }

    @Test func aKeyLongerThan72BytesIsRefusedNotTruncated() async throws {
        let long = String(repeating: "k", count: 80)
        let server = try await TestServer(yaml: Self.yaml(secret: long))
        defer { server.stop() }
        #expect(Self.file(server).contains(long), "not hashed, not rewritten")
        #expect(try await Self.call(server, "debug", headers: [("X-Management-Key", long)]).0 == 404)
        #expect(try await Self.call(server, "debug", headers: [("X-Management-Key", String(long.prefix(72)))]).0 == 404)
    }

    @Test func missingOrWrongKeyIs401AndTheKeyNeverEchoes() async throws {
        let server = try await TestServer(yaml: Self.yaml())
        defer { server.stop() }
        let (s1, b1) = try await Self.call(server, "config", headers: [])
        #expect(s1 == 401 && b1 == #"{"error":"missing management key"}"#)
        let (s2, b2) = try await Self.call(server, "config", headers: [("Authorization", "Bearer not-the-key")])
        #expect(s2 == 401 && b2 == #"{"error":"invalid management key"}"#)
        #expect(!b2.contains("not-the-key"))
        let (_, cfg) = try await Self.call(server, "config")
        #expect(!cfg.contains(Self.key) && !cfg.contains("$2b$") && !cfg.contains("secret-key"), "\(cfg)")
    }

    @Test func remotePeersAre403UnlessAllowed() {
        #expect(ManagementAuth.gate(enabled: true, peerIsLoopback: false, allowRemote: false) == .deny(status: 403, error: "remote management disabled", retryAfter: nil))
        #expect(ManagementAuth.gate(enabled: true, peerIsLoopback: false, allowRemote: true) == .allow)
        #expect(ManagementAuth.gate(enabled: true, peerIsLoopback: true, allowRemote: false) == .allow)
        #expect(ManagementAuth.gate(enabled: false, peerIsLoopback: true, allowRemote: true) == .deny(status: 404, error: nil, retryAfter: nil))
        // The whole check, as a remote peer: refused before any key is looked at.
        let a = ManagementAuth()
        #expect(a.check(key: .plaintext("k"), peer: "203.0.113.9", peerIsLoopback: false, allowRemote: false, presented: "k")
                == .deny(status: 403, error: "remote management disabled", retryAfter: nil))
        #expect(a.check(key: .plaintext("k"), peer: "203.0.113.9", peerIsLoopback: false, allowRemote: true, presented: "k") == .allow)
    }

    /// The same, end to end: the server listens on every interface and is
    /// reached through this machine's own non-loopback address (traffic that
    /// never leaves the machine), so the peer is not loopback. Runs where the
    /// machine has such an address (CI's has one).
    @Test(.enabled(if: nonLoopbackIPv4() != nil)) func remotePeersAre403EndToEndUnlessAllowed() async throws {
        let address = try #require(nonLoopbackIPv4())
        for allow in [false, true] {
            let yaml = Self.yaml(extra: "host: \"0.0.0.0\"\napi-keys: [\"client-k\"]\n")
                .replacingOccurrences(of: "allow-remote: false", with: "allow-remote: \(allow)")
            let server = try await TestServer(yaml: yaml)
            defer { server.stop() }
            let remote = Client(base: "http://\(address):\(server.port)")
            let (status, _, body) = try await remote.call("/v0/management/config", method: "GET", headers: Self.auth)
            if allow {
                #expect(status == 200, "\(body)")
            } else {
                #expect(status == 403 && body.contains("remote management disabled"), "\(status) \(body)")
                // Loopback still works, and the refusal did not count toward a lockout of anyone else.
                #expect(try await Self.call(server, "config").0 == 200)
            }
        }
    }

    // MARK: error logs

    /// Error exchanges (kept while request-log is off) are listed and can be
    /// downloaded; names outside the error files are refused.
    @Test func errorLogsAreListedAndDownloaded() async throws {
        let up = FakeUpstream { _ in .json(400, Array(#"{"type":"error","error":{"type":"invalid_request_error","message":"bad tool schema"}}"#.utf8)) }
        try await up.start(); defer { up.stop() }
        let server = try await TestServer(yaml: Self.yaml(up)); defer { server.stop() }
        #expect(try await Self.call(server, "request-error-logs").1 == #"{"files":[]}"#)
        #expect(try await Self.ask(server) == 400)
        let (s, list) = try await Self.call(server, "request-error-logs")
        let files = try #require((try JSONSerialization.jsonObject(with: Data(list.utf8)) as? [String: Any])?["files"] as? [[String: Any]])
        #expect(s == 200 && files.count == 1, "\(list)")
        let name = try #require(files.first?["name"] as? String)
        #expect(name.hasPrefix("error-") && (files.first?["size"] as? Int ?? 0) > 0 && (files.first?["modified"] as? Int ?? 0) > 1_700_000_000)
        let (d, text) = try await Self.call(server, "request-error-logs/" + name)
        #expect(d == 200 && text.contains("bad tool schema") && !text.contains("sk-ant-api-test"), "\(text)")
        #expect(try await Self.call(server, "request-error-logs/no-such.log").0 == 400)
        #expect(try await Self.call(server, "request-error-logs/error-0-none.log").0 == 404)
        #expect(try await Self.call(server, "request-error-logs/..%2Fconfig.yaml").0 == 400)
    }

    @Test func fiveFailuresLockAnAddressOutEvenForTheRightKey() async throws {
        let server = try await TestServer(yaml: Self.yaml())
        defer { server.stop() }
        for _ in 0..<5 { #expect(try await Self.call(server, "debug", headers: [("X-Management-Key", "guess")]).0 == 401) }
        let (status, _, body) = try await Client(base: server.base).call("/v0/management/debug", method: "GET", headers: Self.auth)
        #expect(status == 403)
        #expect(body.contains("IP banned due to too many failed attempts. Try again in "), "\(body)")
    }

    @Test func lockoutEndsAfterItsTimeAndSuccessResetsTheCount() {
        let now = Mutex<Double>(1000)
        let a = ManagementAuth(failureLimit: 3, lockoutSeconds: 60, clock: { now.withLock { $0 } })
        let key = ManagementKey.plaintext("right")
        func go(_ k: String?) -> ManagementAuth.Decision { a.check(key: key, peer: "127.0.0.1", peerIsLoopback: true, allowRemote: false, presented: k) }
        #expect(go("x") != .allow); #expect(go("x") != .allow)
        #expect(go("right") == .allow)  // resets
        #expect(go("x") != .allow); #expect(go("x") != .allow); #expect(go(nil) != .allow)
        #expect(go("right") == .deny(status: 403, error: "IP banned due to too many failed attempts. Try again in 1m0s", retryAfter: 60))
        now.withLock { $0 += 61 }
        #expect(go("right") == .allow)
    }

    @Test func bcryptRefusesKeysLongerThan72Bytes() throws {
        let a72 = String(repeating: "a", count: 72)
        let hash = try Bcrypt.hash(a72, cost: 4)
        #expect(Bcrypt.verify(a72, hash: hash))
        #expect(!Bcrypt.verify(a72 + "XYZ", hash: hash), "no silent truncation")
        #expect(throws: Bcrypt.Failure.keyTooLong(bytes: 73)) { try Bcrypt.hash(a72 + "b") }
        var c = ProxyConfig()
        c.remoteManagement.secretKey = Secret(a72 + "b")
        #expect(ManagementKey.of(c) == nil, "a refused key leaves the API disabled")
    }

    // MARK: config

    @Test func configYamlRoundTripsAndInvalidYamlIs422WithTheRunningConfigUntouched() async throws {
        let server = try await TestServer(yaml: Self.yaml())
        defer { server.stop() }
        let (s, raw) = try await Self.call(server, "config.yaml")
        #expect(s == 200 && raw == Self.file(server))
        let before = Self.file(server)
        let (bad, why) = try await Self.call(server, "config.yaml", "PUT", "port: [1, 2\ndebug: true\n")
        #expect(bad == 422 && why.contains("invalid_config") && why.contains("YAML"), "\(why)")
        let (bad2, why2) = try await Self.call(server, "config.yaml", "PUT", raw.replacing("port: 8317", with: "port: \"abc\""))
        #expect(bad2 == 422 && why2.contains("port"), "\(why2)")
        #expect(Self.file(server) == before)
        #expect(server.server.store.state.config.debug == false)
        // remote-management cannot change through the API.
        let (bad3, _) = try await Self.call(server, "config.yaml", "PUT", raw.replacing("allow-remote: false", with: "allow-remote: true"))
        #expect(bad3 == 422)
        // A valid file is written and applied before the reply.
        let (ok, body) = try await Self.call(server, "config.yaml", "PUT", raw.replacing("debug: false", with: "debug: true"))
        #expect(ok == 200 && body == #"{"changed":["config"],"ok":true}"#, "\(body)")
        #expect(server.server.store.state.config.debug == true)
        #expect(try await Self.call(server, "debug").1 == #"{"debug":true}"#)
    }

    @Test func getConfigMasksSecrets() async throws {
        let server = try await TestServer(yaml: Self.yaml(extra: "api-keys: [\"client-key-abcdefghijkl\"]\nproxy-url: \"socks5://user:pass@127.0.0.1:1080\"\nhost: 127.0.0.1\n"))
        defer { server.stop() }
        let (s, body) = try await Self.call(server, "config")
        #expect(s == 200)
        #expect(!body.contains("client-key-abcdefghijkl") && body.contains("****ijkl"), "\(body)")
        #expect(!body.contains("pass@") && body.contains("user:****@"), "\(body)")
    }

    // MARK: scalars

    @Test func scalarTogglesPersistKeepCommentsAndRefuseBadValues() async throws {
        let server = try await TestServer(yaml: Self.yaml())
        defer { server.stop() }
        #expect(try await Self.call(server, "debug").1 == #"{"debug":false}"#)
        #expect(try await Self.call(server, "debug", "PUT", #"{"value":true}"#).0 == 200)
        #expect(server.server.store.state.config.debug)
        #expect(Self.file(server).contains("debug: true\n") && Self.file(server).contains("# trailing comment"))
        #expect(try await Self.call(server, "request-retry", "PATCH", #"{"value":3}"#).0 == 200)
        #expect(try await Self.call(server, "request-retry").1 == #"{"request-retry":3}"#)
        #expect(try await Self.call(server, "request-retry", "PUT", #"{"value":"three"}"#).0 == 400)
        #expect(try await Self.call(server, "request-retry", "PUT", #"{}"#).0 == 400)
        let (neg, why) = try await Self.call(server, "request-retry", "PUT", #"{"value":-1}"#)
        #expect(neg == 422 && why.contains("request-retry"), "\(why)")
        #expect(server.server.store.state.config.requestRetry == 3)
        // Absent keys are added: a nested one under a parent that is not there yet.
        for route in ["quota-exceeded/switch-project", "quota-exceeded/switch-preview-model", "request-log", "usage-statistics-enabled"] {
            #expect(try await Self.call(server, route, "PUT", #"{"value":false}"#).0 == 200, "\(route)")
        }
        let c = server.server.store.state.config
        #expect(!c.quotaExceeded.switchProject && !c.quotaExceeded.switchPreviewModel && !c.requestLog && !c.usageStatisticsEnabled)
        #expect(try await Self.call(server, "quota-exceeded/switch-project").1 == #"{"switch-project":false}"#)
        // proxy-url: set (masked when read), then cleared.
        #expect(try await Self.call(server, "proxy-url", "PUT", #"{"value":"socks5://u:pw@127.0.0.1:1080"}"#).0 == 200)
        #expect(try await Self.call(server, "proxy-url").1 == #"{"proxy-url":"socks5://u:****@127.0.0.1:1080"}"#)
        #expect(try await Self.call(server, "proxy-url", "PUT", #"{"value":"ftp://nowhere"}"#).0 == 422)
        #expect(try await Self.call(server, "proxy-url", "DELETE").0 == 200)
        #expect(server.server.store.state.config.proxyURL == "")
        // Everything still loads, and the comments are all there.
        let text = Self.file(server)
        for comment in ["# cliproxy test config", "# the port", "# plaintext until the first start", "# trailing comment"] {
            #expect(text.contains(comment), "\(comment)")
        }
    }

    // MARK: lists

    @Test func aPutOfApiKeysTakesEffectOnTheNextModelRequest() async throws {
        let up = FakeUpstream { _ in Self.claudeText() }
        try await up.start(); defer { up.stop() }
        let server = try await TestServer(yaml: Self.yaml(up, extra: "host: 127.0.0.1\n"))
        defer { server.stop() }
        #expect(try await Self.ask(server) == 200, "no client keys yet")
        #expect(try await Self.call(server, "api-keys", "PUT", #"["client-1"]"#).0 == 200)
        #expect(try await Self.ask(server) == 401)
        #expect(try await Self.ask(server, key: "client-1") == 200)
        #expect(try await Self.call(server, "api-keys").1 == #"{"api-keys":["****"]}"#)
        #expect(try await Self.call(server, "api-keys", "PATCH", #"{"old":"client-1","new":"client-2"}"#).0 == 200)
        #expect(try await Self.ask(server, key: "client-1") == 401)
        #expect(try await Self.ask(server, key: "client-2") == 200)
        #expect(try await Self.call(server, "api-keys", "PATCH", #"{"index":5,"value":"x"}"#).0 == 404)
        #expect(try await Self.call(server, "api-keys", "PATCH", #"{"foo":1}"#).0 == 400)
        #expect(try await Self.call(server, "api-keys", "PUT", #"{"items":["a",1]}"#).0 == 400)
        #expect(try await Self.call(server, "api-keys?value=nope", "DELETE").0 == 404)
        #expect(try await Self.call(server, "api-keys", "DELETE").0 == 400)
        let (s, body) = try await Self.call(server, "api-keys?value=client-2", "DELETE")
        #expect(s == 200 && body.contains("warning"), "\(body)")
        #expect(try await Self.ask(server) == 200)
        // The legacy Gemini key list, by index.
        #expect(try await Self.call(server, "generative-language-api-key", "PUT", #"{"items":["AIza-one","AIza-two"]}"#).0 == 200)
        #expect(try await Self.call(server, "generative-language-api-key?index=0", "DELETE").0 == 200)
        #expect(server.server.store.state.config.generativeLanguageAPIKeys.map(\.revealed) == ["AIza-two"])
    }

    @Test func claudeKeyListPutPatchDelete() async throws {
        let up = FakeUpstream { _ in Self.claudeText() }
        try await up.start(); defer { up.stop() }
        let server = try await TestServer(yaml: Self.yaml(up))
        defer { server.stop() }
        #expect(try await Self.call(server, "claude-api-key", "PUT", #"[{"api-key":"sk-ant-one-1234567890"},{"api-key":"sk-ant-two-1234567890","base-url":"\#(up.url)"}]"#).0 == 200)
        let (_, list) = try await Self.call(server, "claude-api-key")
        #expect(list.contains("****7890") && !list.contains("sk-ant-one"), "\(list)")
        #expect(server.server.store.state.config.claudeAPIKeys.count == 2)
        #expect(try await Self.ask(server) == 200)
        #expect(try await Self.call(server, "claude-api-key", "PATCH", #"{"index":0,"value":{"base-url":"\#(up.url)"}}"#).0 == 200)
        #expect(server.server.store.state.config.claudeAPIKeys[0].baseURL == up.url)
        #expect(try await Self.call(server, "claude-api-key", "PATCH", #"{"match":"nope","value":{}}"#).0 == 404)
        #expect(try await Self.call(server, "claude-api-key", "PUT", #"[{"api-key":"k","headers":{}}]"#).0 == 400)
        #expect(try await Self.call(server, "claude-api-key?api-key=sk-ant-one-1234567890", "DELETE").0 == 200)
        #expect(server.server.store.state.config.claudeAPIKeys.map(\.apiKey.revealed) == ["sk-ant-two-1234567890"])
        #expect(try await Self.call(server, "claude-api-key", "DELETE").0 == 400)
        #expect(try await Self.call(server, "claude-api-key?index=3", "DELETE").0 == 404)
    }

    @Test func openAICompatibilityPutPatchDelete() async throws {
        let up = FakeUpstream { _ in .json(200, Repo.fixture("openai-openai", "text", "upstream_response.json")) }
        try await up.start(); defer { up.stop() }
        let server = try await TestServer(yaml: Self.yaml())
        defer { server.stop() }
        let entry = #"{"name":"compat","base-url":"\#(up.url)/v1","api-key-entries":[{"api-key":"o-key-1"}],"models":[{"name":"up-model","alias":"my-model"}]}"#
        #expect(try await Self.call(server, "openai-compatibility", "PUT", "[\(entry)]").0 == 200)
        let (status, _, _) = try await Client(base: server.base).call("/v1/chat/completions", #"{"model":"my-model","messages":[{"role":"user","content":"hi"}]}"#)
        #expect(status == 200)
        #expect(up.requests.last?.header("authorization") == "Bearer o-key-1")
        #expect(try await Self.call(server, "openai-compatibility", "PATCH", #"{"name":"compat","value":{"models":[{"name":"up-model","alias":"other"}]}}"#).0 == 200)
        #expect(server.server.store.state.config.openAICompatibility.first?.models.first?.alias == "other")
        #expect(try await Self.call(server, "openai-compatibility", "PATCH", #"{"name":"none","value":{}}"#).0 == 404)
        #expect(try await Self.call(server, "openai-compatibility", "PUT", #"[{"name":"x"}]"#).0 == 400)
        #expect(try await Self.call(server, "openai-compatibility?name=compat", "DELETE").0 == 200)
        #expect(server.server.store.state.config.openAICompatibility.isEmpty)
        #expect(Self.file(server).contains("openai-compatibility: []"))
    }

    // MARK: credential files

    /// A Claude sign-in started from the management API: URL and state at
    /// once, "wait" until the browser's redirect reaches the callback, then
    /// "ok", the credential file in auth-dir, and the account serving.
    @Test func aSignInStartedHereCompletesThroughTheCallback() async throws {
        let oauth = FakeUpstream { r in
            guard r.path.hasPrefix("/token"), r.body.contains("\"code\":\"the-code\""), r.body.contains("code_verifier") else {
                return .json(400, Array(#"{"error":"invalid_grant"}"#.utf8))
            }
            return .json(200, Array(#"{"access_token":"sk-ant-oat01-web","refresh_token":"sk-ant-ort01-web","expires_in":28800,"token_type":"Bearer","account":{"uuid":"u1","email_address":"web@example.com"}}"#.utf8))
        }
        let up = FakeUpstream { _ in Self.claudeText() }
        try await oauth.start(); defer { oauth.stop() }
        try await up.start(); defer { up.stop() }
        let server = try await TestServer(yaml: Self.yaml(extra: "upstreams:\n  claude:\n    base-url: \(up.url)\n    auth-url: \(oauth.url)/authorize\n    token-url: \(oauth.url)/token\n"))
        defer { server.stop() }
        let port = refusedPort()
        let (status, body) = try await Self.call(server, "anthropic-auth-url?callback_port=\(port)")
        #expect(status == 200, "\(body)")
        let reply = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
        let state = try #require(reply["state"] as? String)
        #expect((reply["url"] as? String)?.hasPrefix(oauth.url + "/authorize?") == true)
        #expect(try await Self.call(server, "get-auth-status?state=\(state)").1.contains(#""status":"wait""#))
        // The browser's redirect lands on the loopback callback.
        let (cb, _, _) = try await Client(base: "http://127.0.0.1:\(port)").call("/callback?code=the-code&state=\(state)", method: "GET")
        #expect(cb == 200)
        var final = ""
        for _ in 0..<200 {
            final = try await Self.call(server, "get-auth-status?state=\(state)").1
            if !final.contains("wait") { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(final.contains(#""status":"ok""#), "\(final)")
        #expect(FileSystem.exists(server.authDir + "/claude-web@example.com.json"))
        // Unknown and malformed states.
        #expect(try await Self.call(server, "get-auth-status?state=nope").1.contains("unknown or expired"))
        #expect(try await Self.call(server, "get-auth-status?state=a/b").0 == 400)

        // A redirect handed in through the API (the browser could not reach the callback).
        FileSystem.removeTree(server.authDir + "/claude-web@example.com.json")
        let (s2, body2) = try await Self.call(server, "anthropic-auth-url?callback_port=\(refusedPort())")
        #expect(s2 == 200)
        let state2 = try #require((try JSONSerialization.jsonObject(with: Data(body2.utf8)) as? [String: Any])?["state"] as? String)
        #expect(try await Self.call(server, "oauth-callback", "POST", #"{"provider":"codex","state":"\#(state2)","code":"the-code"}"#).0 == 400)
        #expect(try await Self.call(server, "oauth-callback", "POST", #"{"provider":"claude","state":"no-such-state","code":"the-code"}"#).0 == 404)
        let redirect = "http://localhost:54545/callback?code=the-code&state=\(state2)"
        #expect(try await Self.call(server, "oauth-callback", "POST", #"{"provider":"anthropic","redirect_url":"\#(redirect)"}"#).0 == 200)
        var done = ""
        for _ in 0..<200 {
            done = try await Self.call(server, "get-auth-status?state=\(state2)").1
            if !done.contains("wait") { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(done.contains(#""status":"ok""#), "\(done)")
        #expect(FileSystem.exists(server.authDir + "/claude-web@example.com.json"))
        #expect(try await Self.call(server, "oauth-callback", "POST", #"{"state":"\#(state2)","code":"again"}"#).0 == 409)
    }

    @Test func uploadingACredentialFileMakesItsAccountServe() async throws {
        let up = FakeUpstream { _ in Self.claudeText() }
        try await up.start(); defer { up.stop() }
        let server = try await TestServer(yaml: Self.yaml(extra: "upstreams:\n  claude:\n    base-url: \(up.url)\n"))
        defer { server.stop() }
        #expect(try await Self.ask(server) == 403, "no account yet")
        let name = "claude-a@example.com.json"
        #expect(try await Self.call(server, "auth-files?name=\(name)", "POST", Accounts.claude()).0 == 200)
        #expect(try await Self.ask(server) == 200)
        #expect(up.requests.last?.header("authorization") == "Bearer sk-ant-oat01-a")
        var st = stat()
        #expect(stat(server.authDir + "/" + name, &st) == 0 && st.st_mode & 0o777 == 0o600)
        let (_, list) = try await Self.call(server, "auth-files")
        #expect(list.contains(#""name":"claude-a@example.com.json""#) && list.contains(#""status":"active""#), "\(list)")
        #expect(!list.contains("sk-ant-oat01-a"), "no tokens in the list")
        // Refusals: not JSON, not a credential, a bad name, too large.
        #expect(try await Self.call(server, "auth-files?name=x.json", "POST", "not json").0 == 400)
        #expect(try await Self.call(server, "auth-files?name=x.json", "POST", #"{"type":"claude"}"#).0 == 400)
        #expect(try await Self.call(server, "auth-files?name=x.txt", "POST", Accounts.claude()).0 == 400)
        #expect(try await Self.call(server, "auth-files?name=../x.json", "POST", Accounts.claude()).0 == 400)
        let big = #"{"type":"claude","access_token":"a","pad":""# + String(repeating: "x", count: 300_000) + "\"}"
        #expect(try await Self.call(server, "auth-files?name=big.json", "POST", big).0 == 413)
        // Download gives the bytes back.
        let (d, bytes) = try await Self.call(server, "auth-files/download?name=\(name)")
        #expect(d == 200 && bytes == Accounts.claude())
        #expect(try await Self.call(server, "auth-files/download?name=none.json").0 == 404)
        // Disable: the account stops serving; enable: it serves again.
        #expect(try await Self.call(server, "auth-files/status", "PATCH", #"{"name":"\#(name)","disabled":true}"#).0 == 200)
        #expect(try await Self.ask(server) == 403)
        #expect(try await Self.call(server, "auth-files").1.contains(#""status":"disabled""#))
        #expect(try await Self.call(server, "auth-files/status", "PATCH", #"{"name":"\#(name)","disabled":false}"#).0 == 200)
        #expect(try await Self.ask(server) == 200)
        #expect(try await Self.call(server, "auth-files/status", "PATCH", #"{"name":"none.json","disabled":true}"#).0 == 404)
        // Delete.
        #expect(try await Self.call(server, "auth-files?name=\(name)", "DELETE").0 == 200)
        #expect(try await Self.ask(server) == 403)
        #expect(try await Self.call(server, "auth-files?name=\(name)", "DELETE").0 == 404)
    }

    @Test func multipartUploadAndDeleteAll() async throws {
        let server = try await TestServer(yaml: Self.yaml())
        defer { server.stop() }
        let b = "XyZbOuNdArY"
        let body = "--\(b)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"codex-c@example.com.json\"\r\nContent-Type: application/json\r\n\r\n\(Accounts.codex())\r\n"
            + "--\(b)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"bad.json\"\r\n\r\nnope\r\n--\(b)--\r\n"
        let (s, _, text) = try await Client(base: server.base).call("/v0/management/auth-files", body, method: "POST",
                                                                  headers: Self.auth + [("Content-Type", "multipart/form-data; boundary=\(b)")])
        #expect(s == 207 && text.contains("\"partial\"") && text.contains("bad.json"), "\(text)")
        #expect(server.server.store.state.accounts?.accounts.map(\.id) == ["codex-c@example.com.json"])
        let (d, deleted) = try await Self.call(server, "auth-files?all=true", "DELETE")
        #expect(d == 200 && deleted.contains(#""deleted":1"#), "\(deleted)")
        #expect(server.server.store.state.accounts?.accounts.isEmpty == true)
    }

    @Test func cooldownsAreListedAndCanBeCleared() async throws {
        let limited = Atomic<Bool>(true)
        let up = FakeUpstream { _ in
            limited.load(ordering: .relaxed)
                ? .json(429, Array(#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}"#.utf8), headers: [("retry-after", "600")])
                : Self.claudeText()
        }
        try await up.start(); defer { up.stop() }
        let name = "claude-a@example.com.json"
        let server = try await TestServer(yaml: Self.yaml(extra: "upstreams:\n  claude:\n    base-url: \(up.url)\n"), authFiles: [name: Accounts.claude()])
        defer { server.stop() }
        #expect(try await Self.ask(server) == 429)
        limited.store(false, ordering: .relaxed)
        #expect(try await Self.ask(server) == 429, "cooling: not even tried")
        let (_, list) = try await Self.call(server, "auth-files")
        #expect(list.contains(#""cooldowns":[{"model":"\#(Self.claudeModel)""#) && list.contains("next_retry_after"), "\(list)")
        #expect(try await Self.call(server, "reset-quota", "POST", #"{"auth_index":"0000000000000000"}"#).0 == 404)
        #expect(try await Self.call(server, "reset-quota", "POST", #"{}"#).0 == 400)
        let (s, body) = try await Self.call(server, "reset-quota", "POST", #"{"auth_index":"\#(CredentialFiles.index(name))"}"#)
        #expect(s == 200 && body.contains(Self.claudeModel), "\(body)")
        #expect(try await Self.call(server, "auth-files").1.contains(#""cooldowns":[]"#))
        #expect(try await Self.ask(server) == 200)
    }

    // MARK: the editor

    @Test func editorChangesOnlyWhatItMust() throws {
        let text = "# top\nport: 8317 # p\nquota-exceeded:\n  switch-project: true  # sp\nlist:\n  - a # in the list\n  - b\nafter: 1 # kept\n"
        var e = ConfigEditor(text: text)
        try e.set(["quota-exceeded", "switch-project"], .bool(false))
        #expect(e.text == text.replacing("switch-project: true", with: "switch-project: false"))
        try e.set(["quota-exceeded", "switch-preview-model"], .bool(false))
        #expect(e.text.contains("  switch-project: false  # sp\n  switch-preview-model: false\nlist:"), "\(e.text)")
        try e.set(["list"], .array([.string("x")]))
        #expect(e.text.contains("list:\n  - \"x\"\nafter: 1 # kept\n"), "\(e.text)")
        try e.set(["new", "child"], .number(2))
        #expect(e.text.hasSuffix("after: 1 # kept\nnew:\n  child: 2\n"), "\(e.text)")
        var f = ConfigEditor(text: "quota-exceeded: {switch-project: true}\nempty:\n")
        try f.set(["quota-exceeded", "switch-preview-model"], .bool(false))
        try f.set(["empty"], .array([.object(["api-key": .string("k"), "base-url": .string("u")])]))
        #expect(f.text == "quota-exceeded:\n  switch-preview-model: false\n  switch-project: true\nempty:\n  - api-key: \"k\"\n    base-url: \"u\"\n", "\(f.text)")
        #expect(throws: ConfigEditor.EditError.self) {
            var g = ConfigEditor(text: "base: &b {x: 1}\nother: *b\n")
            try g.set(["other"], .number(1))
        }
    }
}
