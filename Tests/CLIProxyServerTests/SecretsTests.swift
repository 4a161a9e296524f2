import Foundation
import RuleEngine
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A whole session on the real binary with `debug: true` and
/// `request-log: true` — client calls in every dialect, streamed and not, an
/// API-key upstream and a signed-in account whose token is refreshed, an
/// upstream error, wrong keys, management calls that read and change keys —
/// then every byte the process wrote (its log, logs/, the usage database,
/// config.yaml after the management key was hashed) is searched for each
/// secret used. Only the account file itself may hold tokens.
@Suite(.serialized) struct SecretsTests {
    static let secrets = [
        "client-secret-7f3a9c",         // api-keys
        "client-added-by-api-51d0",      // added through the management API
        "mgmt-secret-2b81e4",            // remote-management.secret-key (plaintext at start)
        "sk-ant-api03-upstream-9e2c",    // claude-api-key
        "sk-compat-upstream-4d7b",       // openai-compatibility api-keys
        "sk-ant-oat01-expired-a1b2",     // the account's old access token
        "sk-ant-ort01-refresh-c3d4",     // the account's refresh token
        "sk-ant-oat01-fresh-e5f6",       // the access token the refresh returned
        "sk-ant-ort01-rotated-a7b8",     // the rotated refresh token
        "wrong-key-guess-0c9d",          // a wrong client key someone tried
    ]

    /// The keys the user put in config.yaml stay there (the proxy needs them).
    static let writtenByTheUser: Set = ["client-secret-7f3a9c", "client-added-by-api-51d0", "sk-ant-api03-upstream-9e2c", "sk-compat-upstream-4d7b"]

    @Test func noSecretReachesALogOrAFileWithDebugAndRequestLogOn() async throws {
        let refreshes = Counter()
        let claudeUp = FakeUpstream { r in
            if r.path.hasSuffix("/token") {
                _ = refreshes.next()
                return .json(200, Array(#"{"access_token":"sk-ant-oat01-fresh-e5f6","refresh_token":"sk-ant-ort01-rotated-a7b8","expires_in":28800,"token_type":"Bearer"}"#.utf8))
            }
            if r.body.contains("please-fail") {
                return .json(401, Array(#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#.utf8))
            }
            return r.body.replacingOccurrences(of: " ", with: "").contains("\"stream\":true")
                ? .stream([Repo.fixture("claude-claude", "text", "upstream_stream.sse")])
                : .json(200, Repo.fixture("claude-claude", "text", "upstream_response.json"))
        }
        let compatUp = FakeUpstream { r in
            r.body.replacingOccurrences(of: " ", with: "").contains("\"stream\":true")
                ? .stream([Repo.fixture("openai-openai", "text", "upstream_stream.sse")])
                : .json(200, Repo.fixture("openai-openai", "text", "upstream_response.json"))
        }
        try await claudeUp.start(); defer { claudeUp.stop() }
        try await compatUp.start(); defer { compatUp.stop() }

        let dir = makeTempDir()
        defer { removeTree(dir) }
        let port = refusedPort()
        FileSystem.write(dir + "/config.yaml", """
        port: \(port)
        debug: true
        request-log: true
        usage-statistics-enabled: true
        auth-dir: \(dir)/auth
        api-keys: ["client-secret-7f3a9c"]
        remote-management:
          secret-key: "mgmt-secret-2b81e4"
        claude-api-key:
          - api-key: "sk-ant-api03-upstream-9e2c"
        upstreams:
          claude:
            base-url: \(claudeUp.url)
            token-url: \(claudeUp.url)/token
        openai-compatibility:
          - name: "compat"
            base-url: "\(compatUp.url)/v1"
            api-keys: ["sk-compat-upstream-4d7b"]
            models:
              - name: "upstream-model"
        """)
        mkdir(dir + "/auth", 0o700)
        FileSystem.write(dir + "/auth/claude-a@example.com.json",
                         Accounts.claude(token: "sk-ant-oat01-expired-a1b2", expired: "2020-01-01T00:00:00Z", refresh: "sk-ant-ort01-refresh-c3d4"))

        let child = try #require(ChildProcess(["sh", "-c", "exec \"$0\" --config \"$1\" --rules \"$2\" > \"$3\" 2>&1",
                                               LoginCommandTests.binary, dir + "/config.yaml", Repo.rules, dir + "/server.log"]))
        defer { child.terminate() }
        let client = Client(base: "http://127.0.0.1:\(port)")
        var up = false
        for _ in 0..<1200 where !up {
            if let (s, _, _) = try? await client.call("/healthz", method: "GET"), s == 200 { up = true } else { try await Task.sleep(for: .milliseconds(50)) }
        }
        try #require(up, "the server did not start")

        let key = [("authorization", "Bearer client-secret-7f3a9c")]
        let claudeModel = "claude-sonnet-4-20250514"
        // Every client dialect against both upstreams, streamed and not; the Claude model alternates
        // between the API key and the account (round robin), so both serve.
        for dialect in ["openai", "responses", "claude", "gemini"] {
            for model in [claudeModel, claudeModel, "upstream-model"] {
                for stream in [false, true] {
                    let call = ClientCall(dialect: dialect, model: model, stream: stream)
                    let (status, _, text) = try await client.call(call.path, call.body(case: "text"), headers: key)
                    #expect(status == 200, "\(dialect) \(model) stream=\(stream): \(text.prefix(300))")
                }
            }
        }
        #expect(refreshes.count >= 1, "the account's expired token was refreshed")
        // An upstream error (written to the logs), a wrong client key in each header style, a wrong management key.
        _ = try await client.call("/v1/messages", #"{"model":"\#(claudeModel)","max_tokens":10,"messages":[{"role":"user","content":"please-fail"}]}"#, headers: key)
        #expect(try await client.call("/v1/chat/completions", "{}", headers: [("authorization", "Bearer wrong-key-guess-0c9d")]).0 == 401)
        #expect(try await client.call("/v1/messages", "{}", headers: [("x-api-key", "wrong-key-guess-0c9d")]).0 == 401)
        #expect(try await client.call("/v1beta/models/x:generateContent?key=wrong-key-guess-0c9d", "{}").0 == 401)
        #expect(try await client.call("/v0/management/config", method: "GET", headers: [("x-management-key", "wrong-key-guess-0c9d")]).0 == 401)
        // Management: read the config, add a client key, use it, read usage and the account list.
        let manage = [("x-management-key", "mgmt-secret-2b81e4")]
        #expect(try await client.call("/v0/management/config", method: "GET", headers: manage).0 == 200)
        #expect(try await client.call("/v0/management/api-keys", #"["client-secret-7f3a9c","client-added-by-api-51d0"]"#, method: "PUT", headers: manage).0 == 200)
        #expect(try await client.call("/v1/chat/completions", #"{"model":"upstream-model","messages":[{"role":"user","content":"hi"}]}"#,
                                      headers: [("authorization", "Bearer client-added-by-api-51d0")]).0 == 200)
        #expect(try await client.call("/v0/management/usage", method: "GET", headers: manage).0 == 200)
        #expect(try await client.call("/v0/management/auth-files", method: "GET", headers: manage).0 == 200)
        #expect(try await client.call("/metrics", method: "GET", headers: key).0 == 200)

        // Stop (SIGTERM: the usage rows are written, the logs flushed), then read everything it wrote.
        kill(child.pid, SIGTERM)
        #expect(try await offPool { child.wait() } == 0)
        var files: [String] = []
        func walk(_ path: String) {
            for name in FileSystem.list(path) {
                let full = path + "/" + name
                var st = stat()
                guard lstat(full, &st) == 0 else { continue }
                if (st.st_mode & S_IFMT) == S_IFDIR { walk(full) } else { files.append(full) }
            }
        }
        walk(dir)
        let logs = files.filter { $0.contains("/logs/") }
        #expect(logs.count >= 20, "request-log wrote the exchanges: \(logs.count)")
        #expect(files.contains { $0.hasSuffix("usage.db") })
        let serverLog = FileSystem.readText(dir + "/server.log") ?? ""
        #expect(serverLog.contains(" debug ") && serverLog.contains("finished /v1/messages dialect=claude"), "debug logging was on: \(serverLog.suffix(2000))")
        var searched = 0
        for file in files {
            // The account file holds its tokens by design; config.yaml holds the upstream and client keys the
            // user wrote (but no longer the management key, which was replaced by its hash).
            if file.hasPrefix(dir + "/auth/") && file.hasSuffix(".json") { continue }
            let isConfig = file == dir + "/config.yaml"
            let bytes = FileSystem.readBytes(file) ?? []
            searched += bytes.count
            for secret in Self.secrets where !(isConfig && Self.writtenByTheUser.contains(secret)) {
                // As bytes: the usage database is binary.
                #expect(bytes.firstRange(of: Array(secret.utf8)) == nil, "\(secret) appears in \(file)")
            }
        }
        #expect(searched > 10_000, "searched \(searched) bytes in \(files.count) files")
        // The account file did get the rotated tokens (so the refresh really wrote it).
        #expect(FileSystem.readText(dir + "/auth/claude-a@example.com.json")?.contains("sk-ant-ort01-rotated-a7b8") == true)
    }
}
