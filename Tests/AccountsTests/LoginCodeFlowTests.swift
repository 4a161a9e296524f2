import Testing
import UpstreamTransport
@testable import Accounts

/// The browser logins end to end: a fake provider on 127.0.0.1, a fake
/// browser that follows its redirect to the login's callback server, and the
/// credential file the login writes.
@Suite(.timeLimit(.minutes(1))) struct LoginCodeFlowTests {
    typealias Env = LoginTestEnv

    static let geminiReplies: LoginFakeServer.Handler = { call in
        guard call.header("Authorization") == "Bearer ya29.access" else { return .json(401, #"{"error":{"code":401,"message":"no token"}}"#) }
        switch call.path {
        case "/userinfo": return .json(200, #"{"email":"dev@example.com","verified_email":true}"#)
        case "/v1internal:loadCodeAssist":
            return .json(200, #"{"allowedTiers":[{"id":"free-tier","isDefault":true},{"id":"standard-tier"}],"cloudaicompanionProject":"proj-1"}"#)
        case "/v1internal:onboardUser": return .json(200, #"{"done":true,"response":{"cloudaicompanionProject":{"id":"proj-1"}}}"#)
        default: return .notFound
        }
    }

    @Test func geminiSignsInAndWritesTheFile() async throws {
        let fake = LoginFakeProvider(token: { _ in .json(200, #"{"access_token":"ya29.access","refresh_token":"1//refresh","expires_in":3599,"token_type":"Bearer"}"#) },
                                     other: Self.geminiReplies)
        try await fake.start()
        defer { fake.stop() }
        let spec = fake.spec(callbackPath: "/oauth2callback", secret: "GOCSPX-test-secret", scopes: ["https://www.googleapis.com/auth/cloud-platform", "email"],
                             params: ["access_type": "offline", "prompt": "consent"],
                             urls: ["userinfo": fake.server.url + "/userinfo", "code_assist": fake.server.url, "projects": fake.server.url + "/projects"])
        let dir = Env.authDirectory(), console = LoginTestConsole(), browser = LoginFakeBrowser()
        let result = try await Login.gemini(spec: spec, directory: dir, transport: Env.transport, transportOptions: Env.transportOptions,
                                            options: LoginOptions(), console: console, browser: browser)

        let authorize = try #require(fake.authorizeCall)
        #expect(authorize.param("redirect_uri") == "http://localhost:\(spec.callbackPort!)/oauth2callback")
        #expect(authorize.param("response_type") == "code")
        #expect(authorize.param("scope") == "https://www.googleapis.com/auth/cloud-platform email")
        #expect(authorize.param("access_type") == "offline")
        #expect(authorize.param("prompt") == "consent")
        #expect(authorize.param("code_challenge_method") == "S256")
        #expect(authorize.param("state")?.count == 32)
        #expect(browser.openedURLs.count == 1)
        #expect(console.said.contains(browser.openedURLs[0]))

        let token = try #require(fake.tokenCalls.first)
        #expect(token.header("Content-Type") == "application/x-www-form-urlencoded")
        #expect(token.fields["client_secret"] == "GOCSPX-test-secret")
        #expect(token.fields["code_verifier"]?.count == 128)

        #expect(result.file.name == "gemini-dev@example.com-proj-1.json")
        #expect(result.path == dir.path + "/gemini-dev@example.com-proj-1.json")
        #expect(Env.mode(result.path) == 0o600)
        #expect(Env.mode(dir.path) == 0o700)
        let file = try #require(Env.written(result))
        #expect(file.kind == .gemini)
        #expect(file.accessToken == "ya29.access")
        #expect(file.refreshToken == "1//refresh")
        #expect(file.clientID == "client-1")
        #expect(file.clientSecret == "GOCSPX-test-secret")
        #expect(file.projectID == "proj-1")
        #expect(file.email == "dev@example.com")
        #expect(file.json["auto"] == .bool(true))
        #expect(file.json["checked"] == .bool(false))
        #expect(file.json.value(at: "token.token_type")?.string == "Bearer")
        #expect(file.json.value(at: "token.token_uri")?.string == spec.tokenURL)
        #expect(file.json.value(at: "token.universe_domain")?.string == "googleapis.com")
        #expect(file.json.value(at: "token.scopes") == .array(spec.scopes.map(JSONValue.string)))
        #expect((file.expiry ?? 0) > LoginClock.now() + 3000)
        let onboard = try #require(fake.server.requests(to: "/v1internal:onboardUser").first?.json)
        #expect(onboard["tierId"]?.string == "free-tier")
        #expect(onboard["cloudaicompanionProject"]?.string == "proj-1")
        #expect(fake.server.requests(to: "/projects").isEmpty)  // Code Assist named the project
        #expect(console.said.last == "Added Gemini account dev@example.com → \(result.path)")
        #expect(!console.text.contains("ya29.access") && !console.text.contains("1//refresh"))
        await browser.settle()
        #expect(browser.visits.map(\.status) == [200])
        #expect(browser.visits.first?.body.contains("you can close this window") == true)
    }

    @Test func codexSignsInWithIdentityFromTheIdToken() async throws {
        let id = Env.idToken(#"{"email":"dev@example.com","https://api.openai.com/auth":{"chatgpt_account_id":"acct-42","chatgpt_plan_type":"plus"}}"#)
        let fake = LoginFakeProvider(token: { _ in .json(200, #"{"id_token":"\#(id)","access_token":"at-codex","refresh_token":"rt-codex","expires_in":864000}"#) })
        try await fake.start()
        defer { fake.stop() }
        let spec = fake.spec(callbackPath: "/auth/callback", params: ["prompt": "login", "codex_cli_simplified_flow": "true"])
        let dir = Env.authDirectory(), console = LoginTestConsole()
        let result = try await Login.codex(spec: spec, directory: dir, transport: Env.transport, transportOptions: Env.transportOptions,
                                           options: LoginOptions(), console: console, browser: LoginFakeBrowser())

        #expect(fake.authorizeCall?.param("codex_cli_simplified_flow") == "true")
        #expect(fake.tokenCalls.first?.fields["client_secret"] == nil)
        #expect(result.file.name == "codex-dev@example.com-plus.json")
        #expect(Env.mode(result.path) == 0o600)
        let file = try #require(Env.written(result))
        #expect(file.kind == .codex)
        #expect(file.idToken == id)
        #expect(file.accessToken == "at-codex")
        #expect(file.refreshToken == "rt-codex")
        #expect(file.accountID == "acct-42")
        #expect(file.email == "dev@example.com")
        #expect(file.json["last_refresh"]?.string.flatMap(RFC3339.parse) != nil)
        #expect((file.expiry ?? 0) > LoginClock.now() + 863000)
        #expect(console.said.last == "Added Codex account dev@example.com → \(result.path)")
    }

    @Test func codexWithoutAPlanIsNamedByEmailOnly() async throws {
        let id = Env.idToken(#"{"email":"solo@example.com"}"#)
        let fake = LoginFakeProvider(token: { _ in .json(200, #"{"id_token":"\#(id)","access_token":"at","refresh_token":"rt","expires_in":60}"#) })
        try await fake.start()
        defer { fake.stop() }
        let result = try await Login.codex(spec: fake.spec(), directory: Env.authDirectory(), transport: Env.transport, transportOptions: Env.transportOptions,
                                           options: LoginOptions(), console: LoginTestConsole(), browser: LoginFakeBrowser())
        #expect(result.file.name == "codex-solo@example.com.json")
        #expect(result.file.json["account_id"]?.string == "")
    }

    @Test func claudeExchangesAsJSONWithTheState() async throws {
        let fake = LoginFakeProvider(token: { _ in
            .json(200, #"{"access_token":"sk-ant-oat01-x","refresh_token":"sk-ant-ort01-y","expires_in":28800,"token_type":"Bearer","account":{"uuid":"u1","email_address":"dev@example.com"}}"#)
        })
        try await fake.start()
        defer { fake.stop() }
        let dir = Env.authDirectory(), console = LoginTestConsole()
        let result = try await Login.claude(spec: fake.spec(encoding: "json", params: ["code": "true"]), directory: dir, transport: Env.transport,
                                            transportOptions: Env.transportOptions, options: LoginOptions(), console: console, browser: LoginFakeBrowser())

        let token = try #require(fake.tokenCalls.first)
        #expect(token.header("Content-Type") == "application/json")
        #expect(token.fields["state"] == fake.authorizeCall?.param("state"))
        #expect(fake.authorizeCall?.param("code") == "true")
        #expect(result.file.name == "claude-dev@example.com.json")
        #expect(Env.mode(result.path) == 0o600)
        let file = try #require(Env.written(result))
        #expect(file.kind == .claude)
        #expect(file.json["id_token"]?.string == "")
        #expect(file.accessToken == "sk-ant-oat01-x")
        #expect(file.refreshToken == "sk-ant-ort01-y")
        #expect(file.email == "dev@example.com")
        #expect((file.expiry ?? 0) > LoginClock.now() + 28000)
        #expect(console.said.last == "Added Claude account dev@example.com → \(result.path)")
    }

    @Test func aWrongStateIsRejectedAndTheRightOneStillCompletes() async throws {
        let fake = LoginFakeProvider(token: { _ in .json(200, #"{"access_token":"a","refresh_token":"r","expires_in":100,"account":{"email_address":"s@example.com"}}"#) })
        try await fake.start()
        defer { fake.stop() }
        let console = LoginTestConsole(), browser = LoginFakeBrowser(tamperFirst: true)
        let result = try await Login.claude(spec: fake.spec(encoding: "json"), directory: Env.authDirectory(), transport: Env.transport,
                                            transportOptions: Env.transportOptions, options: LoginOptions(), console: console, browser: browser)
        await browser.settle()
        let visits = browser.visits
        #expect(visits.map(\.status) == [400, 200])
        #expect(visits.first?.body.contains("state mismatch") == true)
        #expect(console.text.contains("state mismatch"))
        #expect(fake.tokenCalls.count == 1)
        #expect(result.file.email == "s@example.com")
    }

    @Test func aPastedRedirectCompletesWithoutABrowser() async throws {
        let id = Env.idToken(#"{"email":"paste@example.com","https://api.openai.com/auth":{"chatgpt_plan_type":"pro"}}"#)
        let fake = LoginFakeProvider(token: { _ in .json(200, #"{"id_token":"\#(id)","access_token":"at","refresh_token":"rt","expires_in":60}"#) })
        try await fake.start()
        defer { fake.stop() }
        let spec = fake.spec()
        let console = LoginTestConsole(), browser = LoginFakeBrowser()
        let login = Task {
            try await Login.codex(spec: spec, directory: Env.authDirectory(), transport: Env.transport, transportOptions: Env.transportOptions,
                                  options: LoginOptions(noBrowser: true), console: console, browser: browser)
        }
        let url = await console.waitFor(spec.authorizeURL! + "?")
        let location = try await LoginFakeBrowser.location(after: url)
        console.paste("hello")
        _ = await console.waitFor("not the sign-in address")
        console.paste(location.replacing(#/state=[^&]*/#, with: "state=forged"))
        _ = await console.waitFor("state mismatch")
        console.paste("  " + location + "  ")
        let result = try await login.value
        #expect(browser.openedURLs.isEmpty)
        #expect(result.file.name == "codex-paste@example.com-pro.json")
        #expect(fake.tokenCalls.count == 1)
    }

    @Test func claudeAcceptsAPastedCodeHashState() async throws {
        let fake = LoginFakeProvider(token: { _ in .json(200, #"{"access_token":"a","refresh_token":"r","expires_in":100,"account":{"email_address":"hash@example.com"}}"#) })
        try await fake.start()
        defer { fake.stop() }
        let spec = fake.spec(encoding: "json")
        let console = LoginTestConsole()
        let login = Task {
            try await Login.claude(spec: spec, directory: Env.authDirectory(), transport: Env.transport, transportOptions: Env.transportOptions,
                                   options: LoginOptions(noBrowser: true), console: console, browser: LoginFakeBrowser())
        }
        let url = await console.waitFor(spec.authorizeURL! + "?")
        let params = URLQuery.parameters(ofURL: Substring(try await LoginFakeBrowser.location(after: url)))
        let code = try #require(params.first { $0.0 == "code" }?.1), state = try #require(params.first { $0.0 == "state" }?.1)
        console.paste("\(code)#\(state)")
        let result = try await login.value
        #expect(result.file.name == "claude-hash@example.com.json")
        #expect(fake.tokenCalls.first?.fields["state"] == state)
        #expect(fake.tokenCalls.first?.fields["code"] == LoginFakeProvider.code)
    }

    @Test func waitingTooLongSaysToRetryOrPaste() async throws {
        let fake = LoginFakeProvider(token: { _ in .json(500, "{}") })
        try await fake.start()
        defer { fake.stop() }
        let error = await #expect(throws: LoginError.self) {
            try await Login.codex(spec: fake.spec(), directory: Env.authDirectory(), transport: Env.transport, transportOptions: Env.transportOptions,
                                  options: LoginOptions(noBrowser: true, timeout: 0.3), console: LoginTestConsole(), browser: LoginFakeBrowser())
        }
        #expect(error?.reason == .timedOut)
        #expect(error?.description.contains("within 0.3 s") == true)
        #expect(error?.description.contains("--no-browser") == true)
        #expect(error?.description.contains("paste") == true)
        #expect(fake.tokenCalls.isEmpty)
    }

    @Test func anUnreachableTokenURLNamesTheHostAndTheSettings() async throws {
        let fake = LoginFakeProvider(token: { _ in .json(500, "{}") })
        try await fake.start()
        defer { fake.stop() }
        var spec = fake.spec()
        let closed = Env.freePort()
        spec.tokenURL = "http://127.0.0.1:\(closed)/token"
        let error = await #expect(throws: LoginError.self) {
            try await Login.codex(spec: spec, directory: Env.authDirectory(), transport: Env.transport, transportOptions: Env.transportOptions,
                                  options: LoginOptions(), console: LoginTestConsole(), browser: LoginFakeBrowser())
        }
        #expect(error?.reason == .network)
        let text = error?.description ?? ""
        #expect(text.contains("127.0.0.1:\(closed)"))
        #expect(text.contains("proxy-url"))
        #expect(text.contains("upstreams.codex.token-url"))
        #expect(!text.contains(LoginFakeProvider.code))
    }

    @Test func aRefusedExchangeQuotesTheProviderButNoSecret() async throws {
        let fake = LoginFakeProvider(token: { call in
            .json(400, #"{"error":"invalid_grant","error_description":"code \#(call.fields["code"] ?? "") was already used"}"#)
        })
        try await fake.start()
        defer { fake.stop() }
        let dir = Env.authDirectory()
        let error = await #expect(throws: LoginError.self) {
            try await Login.codex(spec: fake.spec(), directory: dir, transport: Env.transport, transportOptions: Env.transportOptions,
                                  options: LoginOptions(), console: LoginTestConsole(), browser: LoginFakeBrowser())
        }
        #expect(error?.reason == .rejected)
        #expect(error?.description.contains("HTTP 400: invalid_grant") == true)
        #expect(error?.description.contains("was already used") == true)
        #expect(error?.description.contains(LoginFakeProvider.code) == false)
        #expect(dir.fileNames().isEmpty)
    }

    @Test func aDeniedSignInFailsWithTheProvidersReason() async throws {
        let fake = LoginFakeProvider(deny: true, token: { _ in .json(500, "{}") })
        try await fake.start()
        defer { fake.stop() }
        let browser = LoginFakeBrowser()
        let error = await #expect(throws: LoginError.self) {
            try await Login.claude(spec: fake.spec(encoding: "json"), directory: Env.authDirectory(), transport: Env.transport,
                                   transportOptions: Env.transportOptions, options: LoginOptions(), console: LoginTestConsole(), browser: browser)
        }
        #expect(error?.reason == .denied)
        #expect(error?.description.contains("access_denied: The user said no") == true)
        #expect(fake.tokenCalls.isEmpty)
        await browser.settle()
        #expect(browser.visits.first?.body.contains("Sign-in failed") == true)
    }

    @Test func aBusyCallbackPortSuggestsAnotherOne() async throws {
        let occupant = LoginFakeServer { _ in .notFound }
        try await occupant.start()
        defer { occupant.stop() }
        let fake = LoginFakeProvider(token: { _ in .json(500, "{}") })
        try await fake.start()
        defer { fake.stop() }
        let browser = LoginFakeBrowser()
        let error = await #expect(throws: LoginError.self) {
            try await Login.codex(spec: fake.spec(), directory: Env.authDirectory(), transport: Env.transport, transportOptions: Env.transportOptions,
                                  options: LoginOptions(callbackPort: occupant.port), console: LoginTestConsole(), browser: browser)
        }
        #expect(error?.reason == .portBusy)
        #expect(error?.description.contains("127.0.0.1:\(occupant.port)") == true)
        #expect(error?.description.contains("already in use") == true)
        #expect(error?.description.contains("--callback-port") == true)
        #expect(browser.openedURLs.isEmpty)
    }
}
