import Synchronization
import Testing
@testable import Accounts

/// Qwen's device flow against a fake device and token endpoint.
@Suite(.timeLimit(.minutes(1))) struct LoginQwenTests {
    typealias Env = LoginTestEnv

    /// A fake whose token endpoint answers the n-th poll with `poll(n)`.
    static func fake(expiresIn: Int = 300, interval: Int = 5, poll: @escaping @Sendable (Int) -> LoginFakeAnswer) -> LoginFakeServer {
        let polls = Atomic<Int>(0)
        return LoginFakeServer { call in
            switch call.path {
            case "/device":
                return .json(200, #"{"device_code":"dc-1","user_code":"ABCD-1234","verification_uri":"https://chat.example/authorize","verification_uri_complete":"https://chat.example/authorize?user_code=ABCD-1234","expires_in":\#(expiresIn),"interval":\#(interval)}"#)
            case "/token":
                return poll(polls.add(1, ordering: .relaxed).newValue)
            default:
                return .notFound
            }
        }
    }

    static func spec(_ server: LoginFakeServer) -> OAuthSpec {
        OAuthSpec(tokenURL: server.url + "/token", deviceURL: server.url + "/device", clientID: "qwen-client",
                  scopes: ["openid", "profile", "model.completion"], pkce: true)
    }

    @Test func pendingThenSlowDownThenApproved() async throws {
        let server = Self.fake { n in
            switch n {
            case 1: return .json(400, #"{"error":"authorization_pending","error_description":"not yet"}"#)
            case 2: return .json(400, #"{"error":"slow_down"}"#)
            default: return .json(200, #"{"access_token":"qwen-at","refresh_token":"qwen-rt","token_type":"Bearer","resource_url":"portal.qwen.ai","expires_in":21600}"#)
            }
        }
        try await server.start()
        defer { server.stop() }
        let dir = Env.authDirectory(), console = LoginTestConsole(), browser = LoginFakeBrowser()
        let result = try await Login.qwen(spec: Self.spec(server), directory: dir, transport: Env.transport, transportOptions: Env.transportOptions,
                                          options: LoginOptions(pollScale: 0.01), console: console, browser: browser)

        let device = try #require(server.requests(to: "/device").first)
        #expect(device.fields["client_id"] == "qwen-client")
        #expect(device.fields["scope"] == "openid profile model.completion")
        #expect(device.fields["code_challenge_method"] == "S256")
        let polls = server.requests(to: "/token")
        #expect(polls.count == 3)
        for poll in polls {
            #expect(poll.fields["grant_type"] == "urn:ietf:params:oauth:grant-type:device_code")
            #expect(poll.fields["device_code"] == "dc-1")
            #expect(poll.fields["client_id"] == "qwen-client")
            #expect(poll.fields["code_verifier"].map { PKCE.challenge(for: $0) } == device.fields["code_challenge"])
        }
        #expect(console.text.contains("checking every 7.5 s"))
        #expect(console.text.contains("ABCD-1234"))
        #expect(browser.openedURLs == ["https://chat.example/authorize?user_code=ABCD-1234"])

        #expect(result.file.name.wholeMatch(of: #/qwen-\d{13}\.json/#) != nil)
        #expect(Env.mode(result.path) == 0o600)
        let file = try #require(Env.written(result))
        #expect(file.kind == .qwen)
        #expect(file.accessToken == "qwen-at")
        #expect(file.refreshToken == "qwen-rt")
        #expect(file.resourceURL == "portal.qwen.ai")
        #expect(file.email == "")
        #expect((file.expiry ?? 0) > LoginClock.now() + 21000)
        #expect(console.said.last == "Added Qwen account \(result.file.name) → \(result.path)")
    }

    @Test func theWaitEndsWhenTheCodeExpires() async throws {
        let server = Self.fake(expiresIn: 12, interval: 5) { _ in .json(400, #"{"error":"authorization_pending"}"#) }
        try await server.start()
        defer { server.stop() }
        let dir = Env.authDirectory()
        let error = await #expect(throws: LoginError.self) {
            try await Login.qwen(spec: Self.spec(server), directory: dir, transport: Env.transport, transportOptions: Env.transportOptions,
                                 options: LoginOptions(noBrowser: true, pollScale: 0.01), console: LoginTestConsole(), browser: LoginFakeBrowser())
        }
        #expect(error?.reason == .timedOut)
        #expect(server.requests(to: "/token").count == 2)
        #expect(dir.fileNames().isEmpty)
    }

    @Test func aDeniedOrExpiredCodeFails() async throws {
        for (code, reason) in [("access_denied", LoginError.Reason.denied), ("expired_token", .timedOut)] {
            let server = Self.fake { _ in .json(400, #"{"error":"\#(code)"}"#) }
            try await server.start()
            defer { server.stop() }
            let browser = LoginFakeBrowser()
            let error = await #expect(throws: LoginError.self) {
                try await Login.qwen(spec: Self.spec(server), directory: Env.authDirectory(), transport: Env.transport, transportOptions: Env.transportOptions,
                                     options: LoginOptions(noBrowser: true, pollScale: 0.01), console: LoginTestConsole(), browser: browser)
            }
            #expect(error?.reason == reason)
            #expect(error?.description.contains("Run the login again") == true)
            #expect(server.requests(to: "/token").count == 1)
            #expect(browser.openedURLs.isEmpty)
        }
    }
}
