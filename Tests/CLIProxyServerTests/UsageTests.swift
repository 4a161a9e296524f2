import CLIProxyServer
import Foundation
import RuleEngine
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Usage statistics through the real server: rows for translated and
/// untranslated answers (streams too), tokens read from the rules' IR, the
/// management API's report, and the numbers still there after a restart.
@Suite(.serialized) struct UsageTests {
    static func fakeOpenAI() -> FakeUpstream {
        FakeUpstream { r in
            r.body.contains("\"stream\":true")
                ? .stream([Repo.fixture("openai-openai", "text", "upstream_stream.sse")])
                : .json(200, Repo.fixture("openai-openai", "text", "upstream_response.json"))
        }
    }

    static func config(_ fake: FakeUpstream, database: String) -> String {
        """
        port: 8317
        usage-statistics-enabled: true
        usage-statistics-path: \(database)
        remote-management:
          secret-key: "usage-test-management-key"
        api-keys: ["client-key-1"]
        host: 127.0.0.1
        openai-compatibility:
          - name: "compat"
            base-url: "\(fake.url)/v1"
            api-keys: ["o-key-1"]
            models:
              - name: "upstream-model"
        """
    }

    /// `{"usage": {...}}` from the management API, as a dictionary.
    static func report(_ server: TestServer) async throws -> [String: Any] {
        let (status, _, text) = try await Client(base: server.base).call("/v0/management/usage", method: "GET",
                                                                          headers: [("x-management-key", "usage-test-management-key")])
        try #require(status == 200, "\(text)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        return try #require(object["usage"] as? [String: Any])
    }

    @Test func requestsAndTokensAreCountedAndSurviveARestart() async throws {
        let fake = Self.fakeOpenAI()
        try await fake.start(); defer { fake.stop() }
        var template = Array("/tmp/cliproxy-usage-XXXXXX".utf8CString)
        let dir = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
        defer { FileSystem.removeTree(dir) }
        let database = dir + "/usage.db"
        let key = [("authorization", "Bearer client-key-1")]

        let first = try await TestServer(yaml: Self.config(fake, database: database))
        let client = Client(base: first.base)
        // Translated (Claude client, OpenAI upstream), untranslated (Chat → Chat), and an untranslated stream.
        let (s1, _, t1) = try await client.call("/v1/messages", #"{"model":"upstream-model","max_tokens":50,"messages":[{"role":"user","content":"hi"}]}"#, headers: key)
        let (s2, _, t2) = try await client.call("/v1/chat/completions", #"{"model":"upstream-model","messages":[{"role":"user","content":"hi"}]}"#, headers: key)
        let (s3, _, t3) = try await client.call("/v1/chat/completions", #"{"model":"upstream-model","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}"#, headers: key)
        #expect(s1 == 200 && s2 == 200 && s3 == 200, "\(t1) \(t2) \(t3)")
        // A refused request counts too (as a failure), without a model.
        let (s4, _, _) = try await client.call("/v1/chat/completions", #"{"model":"upstream-model","messages":[]}"#, headers: [("authorization", "Bearer wrong")])
        #expect(s4 == 401)

        var usage: [String: Any] = [:]
        // Untranslated answers are measured just after they were sent, by a
        // worker that may still be compiling its rules on a loaded machine.
        for _ in 0..<1200 {
            usage = try await Self.report(first)
            if usage["total_requests"] as? Int == 4, (usage["total_tokens"] as? Int ?? 0) >= 3 * 16 { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(usage["total_requests"] as? Int == 4, "\(usage)")
        #expect(usage["failure_count"] as? Int == 1, "\(usage)")
        let tokens = usage["total_tokens"] as? Int ?? 0
        #expect(tokens >= 3 * 16, "each of the three answers reported its tokens: \(usage)")
        // Keys appear as labels, never as themselves.
        let text = String(describing: usage)
        #expect(!text.contains("client-key-1") && text.contains("key-"), "\(text)")
        first.stop()

        // A new server on the same database: the history is still there.
        let second = try await TestServer(yaml: Self.config(fake, database: database))
        defer { second.stop() }
        let again = try await Self.report(second)
        #expect(again["total_requests"] as? Int == 4, "\(again)")
        #expect(again["total_tokens"] as? Int == tokens)
        let (s5, _, _) = try await Client(base: second.base).call("/v1/chat/completions", #"{"model":"upstream-model","messages":[{"role":"user","content":"hi"}]}"#, headers: key)
        #expect(s5 == 200)
        var after: [String: Any] = [:]
        for _ in 0..<1200 {
            after = try await Self.report(second)
            if after["total_requests"] as? Int == 5 { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(after["total_requests"] as? Int == 5, "\(after)")
    }

    /// A usage database that is not one is moved aside at start-up; the
    /// server starts, serves, and counts into a fresh file.
    @Test func aCorruptDatabaseIsMovedAsideAndRequestsKeepFlowing() async throws {
        let fake = Self.fakeOpenAI()
        try await fake.start(); defer { fake.stop() }
        var template = Array("/tmp/cliproxy-usage-XXXXXX".utf8CString)
        let dir = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
        defer { FileSystem.removeTree(dir) }
        FileSystem.write(dir + "/usage.db", "this is not a database, just bytes that happen to sit here\n")
        let server = try await TestServer(yaml: Self.config(fake, database: dir + "/usage.db"))
        defer { server.stop() }
        let (status, _, text) = try await Client(base: server.base).call("/v1/chat/completions",
            #"{"model":"upstream-model","messages":[{"role":"user","content":"hi"}]}"#, headers: [("authorization", "Bearer client-key-1")])
        #expect(status == 200, "\(text)")
        #expect(FileSystem.list(dir).contains { $0.hasPrefix("usage.db.corrupt-") }, "\(FileSystem.list(dir))")
        var usage: [String: Any] = [:]
        for _ in 0..<1200 {
            usage = try await Self.report(server)
            if usage["total_requests"] as? Int == 1 { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(usage["total_requests"] as? Int == 1, "\(usage)")
    }
}
