import Synchronization
import Testing
@testable import Accounts

/// Gemini after the sign-in: the Code Assist project (chosen, reported,
/// discovered, or assigned by onboarding) and onboarding's polling.
@Suite(.timeLimit(.minutes(1))) struct LoginGeminiSetupTests {
    typealias Env = LoginTestEnv

    /// Runs a Gemini login against a fake whose Code Assist side answers with `replies`.
    static func login(options: LoginOptions = LoginOptions(), _ replies: @escaping LoginFakeServer.Handler)
        async throws(LoginError) -> (LoginResult?, LoginFakeProvider, AuthDirectory) {
        let fake = LoginFakeProvider(token: { _ in .json(200, #"{"access_token":"ya29.a","refresh_token":"1//r","expires_in":3600}"#) }, other: { call in
            call.path == "/userinfo" ? .json(200, #"{"email":"g@example.com"}"#) : replies(call)
        })
        try? await fake.start()
        defer { fake.stop() }
        let spec = fake.spec(callbackPath: "/oauth2callback", secret: "secret-1",
                             urls: ["userinfo": fake.server.url + "/userinfo", "code_assist": fake.server.url, "projects": fake.server.url + "/v1/projects"])
        var opts = options
        opts.pollScale = 0.01
        let dir = Env.authDirectory()
        let result = try await Login.gemini(spec: spec, directory: dir, transport: Env.transport, transportOptions: Env.transportOptions,
                                            options: opts, console: LoginTestConsole(), browser: LoginFakeBrowser())
        return (result, fake, dir)
    }

    @Test func onboardingIsPolledUntilDone() async throws {
        let onboards = Atomic<Int>(0)
        let (result, fake, _) = try await Self.login { call in
            switch call.path {
            case "/v1internal:loadCodeAssist": return .json(200, #"{"allowedTiers":[{"id":"free-tier","isDefault":false}]}"#)
            case "/v1/projects": return .json(200, #"{}"#)
            case "/v1internal:onboardUser":
                let n = onboards.add(1, ordering: .relaxed).newValue
                return n < 3 ? .json(200, #"{"name":"op-1","done":false}"#)
                             : .json(200, #"{"done":true,"response":{"cloudaicompanionProject":{"id":"gen-lang-client-7","name":"x"}}}"#)
            default: return .notFound
            }
        }
        let calls = fake.server.requests(to: "/v1internal:onboardUser")
        #expect(calls.count == 3)
        for call in calls {
            #expect(call.json?["tierId"]?.string == "legacy-tier")
            #expect(call.json?["cloudaicompanionProject"] == nil)
            #expect(call.json?.value(at: "metadata.pluginType")?.string == "GEMINI")
        }
        let load = fake.server.requests(to: "/v1internal:loadCodeAssist").first?.json
        #expect(load?.value(at: "metadata.ideType")?.string == "IDE_UNSPECIFIED")
        #expect(load?["cloudaicompanionProject"] == nil)
        #expect(fake.server.requests(to: "/v1/projects").count == 1)
        #expect(result?.file.name == "gemini-g@example.com-gen-lang-client-7.json")
        #expect(result?.file.projectID == "gen-lang-client-7")
        #expect(result?.file.json["auto"] == .bool(true))
    }

    @Test func severalProjectsMustBeChosen() async throws {
        var failure: LoginError?
        var written: [String] = ["not run"]
        do {
            let (_, _, dir) = try await Self.login { call in
                switch call.path {
                case "/v1internal:loadCodeAssist": return .json(200, #"{"allowedTiers":[]}"#)
                case "/v1/projects": return .json(200, #"{"projects":[{"projectId":"alpha-1","name":"A"},{"projectId":"beta-2","name":"B"}]}"#)
                default: return .notFound
                }
            }
            written = dir.fileNames()
        } catch {
            failure = error
            written = []
        }
        let error = try #require(failure)
        #expect(error.reason == .projectChoice)
        #expect(error.description.contains("alpha-1, beta-2"))
        #expect(error.description.contains("--project_id"))
        #expect(written.isEmpty)
    }

    @Test func theOnlyProjectIsUsed() async throws {
        let (result, fake, _) = try await Self.login { call in
            switch call.path {
            case "/v1internal:loadCodeAssist": return .json(200, #"{"allowedTiers":[{"id":"standard-tier","isDefault":true}]}"#)
            case "/v1/projects": return .json(200, #"{"projects":[{"projectId":"solo-3"}]}"#)
            case "/v1internal:onboardUser": return .json(200, #"{"done":true,"response":{}}"#)
            default: return .notFound
            }
        }
        #expect(fake.server.requests(to: "/v1internal:onboardUser").first?.json?["cloudaicompanionProject"]?.string == "solo-3")
        #expect(fake.server.requests(to: "/v1internal:onboardUser").first?.json?["tierId"]?.string == "standard-tier")
        #expect(result?.file.projectID == "solo-3")
    }

    @Test func theProjectIDFlagIsHonoured() async throws {
        let (result, fake, _) = try await Self.login(options: LoginOptions(projectID: "chosen-9")) { call in
            switch call.path {
            case "/v1internal:loadCodeAssist": return .json(200, #"{"cloudaicompanionProject":{"id":"other-1"}}"#)
            case "/v1/projects": return .json(200, #"{"projects":[{"projectId":"a"},{"projectId":"b"}]}"#)
            case "/v1internal:onboardUser": return .json(200, #"{"done":true,"response":{"cloudaicompanionProject":"chosen-9"}}"#)
            default: return .notFound
            }
        }
        #expect(fake.server.requests(to: "/v1/projects").isEmpty)
        #expect(fake.server.requests(to: "/v1internal:loadCodeAssist").first?.json?["cloudaicompanionProject"]?.string == "chosen-9")
        #expect(fake.server.requests(to: "/v1internal:onboardUser").first?.json?["cloudaicompanionProject"]?.string == "chosen-9")
        #expect(result?.file.name == "gemini-g@example.com-chosen-9.json")
        #expect(result?.file.json["auto"] == .bool(false))
    }

    @Test func aCodeAssistRefusalSaysWhatToTry() async throws {
        var failure: LoginError?
        do {
            _ = try await Self.login { call in
                call.path == "/v1internal:loadCodeAssist"
                    ? .json(403, #"{"error":{"code":403,"message":"The caller does not have permission","status":"PERMISSION_DENIED"}}"#)
                    : .notFound
            }
        } catch { failure = error }
        let error = try #require(failure)
        #expect(error.reason == .rejected)
        #expect(error.description.contains("HTTP 403: PERMISSION_DENIED — The caller does not have permission"))
        #expect(error.description.contains("--project_id"))
    }
}
