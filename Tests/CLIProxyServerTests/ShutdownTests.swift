import CLIProxyServer
import RuleEngine
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// SIGTERM on the real binary: the listener closes, a stream in flight runs
/// to its end, and the process exits 0 — or, past `shutdown-grace-period`,
/// exits 0 anyway without waiting for the stream.
@Suite(.serialized) struct ShutdownTests {
    /// An OpenAI-compatible upstream streaming the fixture's chunks `pauseMs` apart.
    static func slowUpstream(pauseMs: Int) -> FakeUpstream {
        let sse = String(decoding: Repo.fixture("openai-openai", "text", "upstream_stream.sse"), as: UTF8.self)
        let chunks = sse.components(separatedBy: "\n\n").filter { !$0.isEmpty }.map { Array(($0 + "\n\n").utf8) }
        return FakeUpstream { _ in .stream(chunks, pauseMs: pauseMs) }
    }

    /// Starts `cliproxy` on a free port with one compat upstream; waits until it answers.
    static func startServer(upstream: FakeUpstream, grace: String) async throws -> (ChildProcess, Client, String) {
        var template = Array("/tmp/cliproxy-shutdown-XXXXXX".utf8CString)
        let dir = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
        let port = refusedPort()
        FileSystem.write(dir + "/config.yaml", """
        port: \(port)
        auth-dir: \(dir)/auth
        shutdown-grace-period: \(grace)
        openai-compatibility:
          - name: "compat"
            base-url: "\(upstream.url)/v1"
            api-keys: ["o-key-1"]
            models:
              - name: "upstream-model"
        """)
        let child = try #require(ChildProcess([LoginCommandTests.binary, "--config", dir + "/config.yaml", "--rules", Repo.rules]))
        let client = Client(base: "http://127.0.0.1:\(port)")
        // Up to 60 s: on a loaded 2-core machine compiling the rules alone can take seconds.
        for _ in 0..<1200 {
            if let (status, _, _) = try? await client.call("/healthz", method: "GET"), status == 200 { return (child, client, dir) }
            try await Task.sleep(for: .milliseconds(50))
        }
        child.terminate()
        Issue.record("the server did not start")
        throw CancellationError()
    }

    static let streamRequest = #"{"model":"upstream-model","stream":true,"messages":[{"role":"user","content":"hi"}]}"#

    static func waitForUpstreamRequest(_ up: FakeUpstream) async throws {
        for _ in 0..<200 where up.requests.isEmpty { try await Task.sleep(for: .milliseconds(20)) }
        try #require(!up.requests.isEmpty, "the stream never reached the upstream")
    }

    @Test func aStreamInFlightFinishesThenTheProcessExitsZero() async throws {
        let up = Self.slowUpstream(pauseMs: 300)
        try await up.start()
        defer { up.stop() }
        let (child, client, dir) = try await Self.startServer(upstream: up, grace: "20s")
        defer { child.terminate(); FileSystem.removeTree(dir) }

        let stream = Task { try await client.call("/v1/chat/completions", Self.streamRequest) }
        try await Self.waitForUpstreamRequest(up)
        kill(child.pid, SIGTERM)
        try await Task.sleep(for: .milliseconds(200))
        // No new work is accepted once the signal arrived…
        let late = try? await client.call("/healthz", method: "GET")
        #expect(late.map { $0.0 } == nil, "a new connection was accepted after SIGTERM")
        // …but the stream that was running ends complete.
        let (status, _, body) = try await stream.value
        #expect(status == 200)
        #expect(body.contains("data: [DONE]"), "\(body)")
        #expect(body.contains("Ol"), "\(body)")
        #expect(try await offPool { child.wait() } == 0)
    }

    /// The Docker image's guard: without api-keys the server refuses to start.
    @Test func requireApiKeysRefusesToStartWithoutThem() async throws {
        var template = Array("/tmp/cliproxy-shutdown-XXXXXX".utf8CString)
        let dir = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
        defer { FileSystem.removeTree(dir) }
        FileSystem.write(dir + "/config.yaml", "port: \(refusedPort())\nauth-dir: \(dir)/auth\nhost: \"0.0.0.0\"\n")
        // Under `timeout`: a server that started anyway ends as 124, a failure, not a hang.
        let child = try #require(ChildProcess(["timeout", "60", LoginCommandTests.binary, "--config", dir + "/config.yaml",
                                               "--rules", Repo.rules, "--require-api-keys"]))
        defer { child.terminate() }
        #expect(try await offPool { child.wait() } == 1)
    }

    @Test func pastTheGracePeriodTheProcessStillExitsZero() async throws {
        let up = Self.slowUpstream(pauseMs: 4000)
        try await up.start()
        defer { up.stop() }
        let (child, client, dir) = try await Self.startServer(upstream: up, grace: "500ms")
        defer { child.terminate(); FileSystem.removeTree(dir) }

        let stream = Task { try? await client.call("/v1/chat/completions", Self.streamRequest) }
        try await Self.waitForUpstreamRequest(up)
        let signalled = Clock.nanoseconds()
        kill(child.pid, SIGTERM)
        #expect(try await offPool { child.wait() } == 0)
        // Well before the upstream's first pause ended: the grace period, not the stream, decided.
        #expect(Clock.nanoseconds() - signalled < 3_900_000_000)
        _ = await stream.value
    }
}
