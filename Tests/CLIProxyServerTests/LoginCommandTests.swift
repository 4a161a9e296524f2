import CLIProxyServer
import RuleEngine
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `cliproxy login …` and the legacy `--claude-login` flag, as a user runs
/// them: the real binary against a fake Claude sign-in server on 127.0.0.1
/// (`upstreams.claude.auth-url` / `token-url` point there).
@Suite(.serialized) struct LoginCommandTests {
    /// The `cliproxy` binary built beside this test bundle.
    static var binary: String {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buf, buf.count - 1)
        let exe = String(decoding: buf[0..<max(n, 0)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return String(exe[..<(exe.lastIndex(of: "/") ?? exe.startIndex)]) + "/cliproxy"
    }

    static func fakeClaude() -> FakeUpstream {
        FakeUpstream { r in
            guard r.path.hasPrefix("/token"), r.body.contains("\"code\":\"the-code\""), r.body.contains("code_verifier") else {
                return .json(400, Array(#"{"error":"invalid_grant"}"#.utf8))
            }
            return .json(200, Array(#"{"access_token":"sk-ant-oat01-new","refresh_token":"sk-ant-ort01-new","expires_in":28800,"token_type":"Bearer","account":{"uuid":"u1","email_address":"dev@example.com"}}"#.utf8))
        }
    }

    static func setUp(_ fake: FakeUpstream) -> (dir: String, config: String) {
        var template = Array("/tmp/cliproxy-login-XXXXXX".utf8CString)
        let dir = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
        let config = dir + "/config.yaml"
        FileSystem.write(config, """
        auth-dir: \(dir)/auth
        upstreams:
          claude:
            auth-url: \(fake.url)/authorize
            token-url: \(fake.url)/token
        """)
        return (dir, config)
    }

    /// Reads the child's output until the sign-in URL; returns its `state`.
    static func stateFromPrintedURL(_ child: ChildProcess) -> String? {
        while let line = child.readLine(timeout: 20) {
            guard line.contains("/authorize?"), let r = line.firstRange(of: "state=") else { continue }
            return String(line[r.upperBound...].prefix(while: { $0 != "&" }))
        }
        return nil
    }

    /// `cliproxy <arguments> --no-browser --callback-port <free port>` against
    /// a fresh fake sign-in server and auth dir; `body` gets the running child.
    static func withLogin(_ arguments: [String], _ body: (_ child: ChildProcess, _ port: Int, _ dir: String) async throws -> Void) async throws {
        let fake = Self.fakeClaude()
        try await fake.start(); defer { fake.stop() }
        let (dir, config) = Self.setUp(fake)
        defer { FileSystem.removeTree(dir) }
        let port = refusedPort()
        let child = try #require(ChildProcess([Self.binary] + arguments + ["--no-browser", "--callback-port", "\(port)",
                                                                          "--config", config, "--rules", Repo.rules]))
        defer { child.terminate() }
        try await body(child, port, dir)
    }

    @Test func loginClaudeThroughTheCallback() async throws {
        try await Self.withLogin(["login", "claude"]) { child, port, dir in
            let state = try #require(try await offPool { Self.stateFromPrintedURL(child) }, "no sign-in URL printed")
            // The browser's redirect, as it lands on the callback server.
            let (status, _, page) = try await Client(base: "http://127.0.0.1:\(port)").call("/callback?code=the-code&state=\(state)", method: "GET")
            #expect(status == 200, "\(page)")
            #expect(try await offPool { child.wait() } == 0)
            var st = stat()
            let file = dir + "/auth/claude-dev@example.com.json"
            #expect(stat(file, &st) == 0 && st.st_mode & 0o777 == 0o600)
            let text = String(decoding: FileSystem.readBytes(file) ?? [], as: UTF8.self)
            #expect(text.contains("sk-ant-oat01-new") && text.contains("\"type\" : \"claude\"") || text.contains("\"type\":\"claude\""), "\(text)")
        }
    }

    @Test func legacyFlagWithAPastedCode() async throws {
        try await Self.withLogin(["--claude-login"]) { child, _, dir in
            let state = try #require(try await offPool { Self.stateFromPrintedURL(child) }, "no sign-in URL printed")
            child.writeLine("the-code#\(state)")
            #expect(try await offPool { child.wait() } == 0)
            #expect(FileSystem.exists(dir + "/auth/claude-dev@example.com.json"))
        }
    }

    @Test func aWrongStateIsNotAccepted() async throws {
        try await Self.withLogin(["login", "claude"]) { child, port, dir in
            let state = try #require(try await offPool { Self.stateFromPrintedURL(child) })
            let (bad, _, _) = try await Client(base: "http://127.0.0.1:\(port)").call("/callback?code=the-code&state=forged", method: "GET")
            #expect(bad == 400)
            #expect(!FileSystem.exists(dir + "/auth/claude-dev@example.com.json"))
            let (good, _, _) = try await Client(base: "http://127.0.0.1:\(port)").call("/callback?code=the-code&state=\(state)", method: "GET")
            #expect(good == 200)
            #expect(try await offPool { child.wait() } == 0)
        }
    }
}
