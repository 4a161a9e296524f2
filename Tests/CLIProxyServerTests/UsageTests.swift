import CLIProxyServer
import Foundation
import RuleEngine
import Testing
import UsageStore
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
    /// Export → import: the export carries every row; importing it into a
    /// fresh database recreates the totals; importing again adds nothing; an
    /// export of the existing product keyed by a raw client key is stored
    /// under that key's label, never the key; a wrong version is a 400.
    @Test func exportAndImportRoundTripWithoutDuplicatesOrRawKeys() async throws {
        let fake = Self.fakeOpenAI()
        try await fake.start(); defer { fake.stop() }
        var template = Array("/tmp/cliproxy-usage-XXXXXX".utf8CString)
        let dir = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
        defer { FileSystem.removeTree(dir) }
        let manage = [("x-management-key", "usage-test-management-key")]

        let first = try await TestServer(yaml: Self.config(fake, database: dir + "/a.db"))
        let client = Client(base: first.base)
        for _ in 0..<3 {
            let (s, _, t) = try await client.call("/v1/chat/completions", #"{"model":"upstream-model","messages":[{"role":"user","content":"hi"}]}"#,
                                                  headers: [("authorization", "Bearer client-key-1")])
            #expect(s == 200, "\(t)")
        }
        var exported = ""
        for _ in 0..<1200 {
            let (s, _, t) = try await client.call("/v0/management/usage/export", method: "GET", headers: manage)
            #expect(s == 200, "\(t)")
            exported = t
            if (try? JSONSerialization.jsonObject(with: Data(t.utf8)) as? [String: Any])
                .flatMap({ ($0["usage"] as? [String: Any])?["total_requests"] as? Int }) == 3 { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        let export = try #require(try JSONSerialization.jsonObject(with: Data(exported.utf8)) as? [String: Any])
        #expect(export["version"] as? Int == 1 && (export["exported_at"] as? String)?.hasSuffix("Z") == true, "\(exported)")
        #expect(!exported.contains("client-key-1"))
        first.stop()

        let second = try await TestServer(yaml: Self.config(fake, database: dir + "/b.db"))
        defer { second.stop() }
        let c2 = Client(base: second.base)
        let (i1, _, r1) = try await c2.call("/v0/management/usage/import", exported, headers: manage)
        #expect(i1 == 200 && r1.contains("\"added\":3") && r1.contains("\"skipped\":0") && r1.contains("\"total_requests\":3"), "\(r1)")
        let (i2, _, r2) = try await c2.call("/v0/management/usage/import", exported, headers: manage)
        #expect(i2 == 200 && r2.contains("\"added\":0") && r2.contains("\"skipped\":3"), "\(r2)")
        let report = try await Self.report(second)
        #expect(report["total_requests"] as? Int == 3, "\(report)")
        #expect(report["total_tokens"] as? Int == (export["usage"] as? [String: Any])?["total_tokens"] as? Int)

        // The existing product's export: version 0, keyed by the raw client key, a detail with few fields.
        let legacy = #"{"version":0,"usage":{"apis":{"sk-raw-client-secret":{"models":{"gpt-5":{"details":[{"timestamp":"2026-04-14T09:15:04.123+02:00","latency_ms":1830,"failed":true,"tokens":{"input_tokens":5,"output_tokens":7}}]}}}}}}"#
        let (i3, _, r3) = try await c2.call("/v0/management/usage/import", legacy, headers: manage)
        #expect(i3 == 200 && r3.contains("\"added\":1") && r3.contains("\"failed_requests\":1"), "\(r3)")
        let (_, _, after) = try await c2.call("/v0/management/usage/export", method: "GET", headers: manage)
        #expect(!after.contains("sk-raw-client-secret") && after.contains(UsageRecord.label(forKey: "sk-raw-client-secret")), "\(after)")
        #expect(after.contains("2026-04-14T07:15:04.123Z"), "the offset is applied: \(after)")

        let (v, _, vt) = try await c2.call("/v0/management/usage/import", #"{"version":7,"usage":{}}"#, headers: manage)
        #expect(v == 400 && vt.contains("unsupported version"), "\(vt)")
        let (b, _, bt) = try await c2.call("/v0/management/usage/import", "[1,2", headers: manage)
        #expect(b == 400, "\(bt)")
        let (t, _, tt) = try await c2.call("/v0/management/usage/import",
            #"{"version":1,"usage":{"apis":{"k":{"models":{"m":{"details":[{"timestamp":"yesterday"}]}}}}}}"#, headers: manage)
        #expect(t == 400 && tt.contains("RFC 3339"), "\(tt)")
    }
}
