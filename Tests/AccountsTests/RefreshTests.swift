import Testing
@testable import Accounts

/// Token refresh against a fake token endpoint on 127.0.0.1, with the
/// store's clock set by hand.
@Suite struct RefreshTests {
    typealias F = StoreTestFixture

    @Test func refreshesWithinLeadAndRewritesTheFile() async throws {
        let f = try await F { _ in .tokens("new-access", expiresIn: 3600) }
        defer { f.stop() }
        f.put("claude-a.json", F.claude(expiresIn: 100, extra: #","custom":{"keep":[1,"x"]},"priority":3"#))
        f.store.reload()

        let token = try await f.store.accessToken(for: "claude-a.json")

        #expect(token == "new-access")
        let calls = f.server.calls(to: "/token/claude")
        #expect(calls.count == 1)
        let body = try #require(calls.first?.json)
        #expect(body == .object(["grant_type": .string("refresh_token"), "refresh_token": .string("old-refresh"),
                                 "client_id": .string("claude-client")]))
        #expect(calls.first?.header("accept") == "application/json")
        #expect(calls.first?.header("content-type") == "application/json")
        let saved = try #require(f.read("claude-a.json"))
        #expect(saved["access_token"]?.string == "new-access")
        #expect(saved["refresh_token"]?.string == "old-refresh")  // not rotated: kept
        #expect(saved["expired"]?.string == RFC3339.format(F.start + 3600))
        #expect(saved["last_refresh"]?.string == RFC3339.format(F.start))
        #expect(saved["custom"] == .object(["keep": .array([.number(1), .string("x")])]))
        #expect(saved["priority"]?.number == 3)
        #expect(f.mode("claude-a.json") == 0o600)
        #expect(f.store.accounts.first?.status == .ready)
    }

    @Test func noRefreshOutsideLead() async throws {
        let f = try await F { _ in .tokens("new-access") }
        defer { f.stop() }
        f.put("claude-a.json", F.claude(expiresIn: 1000))
        f.store.reload()

        #expect(try await f.store.accessToken(for: "claude-a.json") == "old-access")
        #expect(f.server.calls.isEmpty)
        #expect(f.read("claude-a.json")?["access_token"]?.string == "old-access")
    }

    @Test func geminiUsesTheFilesOwnClientFormEncoded() async throws {
        let f = try await F { _ in .tokens("ya29.new") }
        defer { f.stop() }
        let expiry = RFC3339.format(F.start - 10)
        f.put("gemini-own.json", #"{"type":"gemini","project_id":"p","token":{"access_token":"ya29.old","refresh_token":"1//own-refresh","expiry":"\#(expiry)","client_id":"file-client","client_secret":"file-secret","universe_domain":"googleapis.com"}}"#)
        f.put("gemini-spec.json", #"{"token":{"access_token":"ya29.old2","refresh_token":"1//spec-refresh","expiry":"\#(expiry)"}}"#)
        f.store.reload()

        #expect(try await f.store.accessToken(for: "gemini-own.json") == "ya29.new")
        #expect(try await f.store.accessToken(for: "gemini-spec.json") == "ya29.new")

        let calls = f.server.calls(to: "/token/gemini")
        #expect(calls.count == 2)
        let own = try #require(calls.first { $0.refreshToken == "1//own-refresh" })
        #expect(own.form == ["grant_type": "refresh_token", "refresh_token": "1//own-refresh", "client_id": "file-client", "client_secret": "file-secret"])
        #expect(own.header("content-type") == "application/x-www-form-urlencoded")
        let spec = try #require(calls.first { $0.refreshToken == "1//spec-refresh" })
        #expect(spec.form["client_id"] == "spec-gemini-client")
        #expect(spec.form["client_secret"] == "spec-gemini-secret")
        let saved = try #require(f.read("gemini-own.json"))
        #expect(saved.value(at: "token.access_token")?.string == "ya29.new")
        #expect(saved.value(at: "token.expiry")?.string == RFC3339.format(F.start + 3600))
        #expect(saved.value(at: "token.universe_domain")?.string == "googleapis.com")
        #expect(saved["project_id"]?.string == "p")
    }

    @Test func codexRotatesTokensAndRederivesAccountID() async throws {
        let idToken = F.jwt(#"{"email":"new@example.com","https://api.openai.com/auth":{"chatgpt_account_id":"acct-new","chatgpt_plan_type":"plus"}}"#)
        let f = try await F(leads: ["codex": 5 * 86_400]) { _ in .tokens("codex-new", extra: #","refresh_token":"rt_rotated_2","id_token":"\#(idToken)""#) }
        defer { f.stop() }
        f.put("codex-a.json", #"{"type":"codex","access_token":"codex-old","refresh_token":"rt_original_1","id_token":"x.y.z","account_id":"acct-old","email":"old@example.com","expired":"\#(RFC3339.format(F.start + 3600))"}"#)
        f.store.reload()

        // Codex's lead is 5 days: a token valid for another hour is refreshed.
        #expect(try await f.store.accessToken(for: "codex-a.json") == "codex-new")

        let call = try #require(f.server.calls(to: "/token/codex").first)
        #expect(call.form == ["grant_type": "refresh_token", "refresh_token": "rt_original_1", "client_id": "app_codex", "scope": "openid profile email"])
        let saved = try #require(f.read("codex-a.json"))
        #expect(saved["refresh_token"]?.string == "rt_rotated_2")
        #expect(saved["id_token"]?.string == idToken)
        #expect(saved["account_id"]?.string == "acct-new")
        #expect(saved["email"]?.string == "new@example.com")
    }

    @Test func qwenStoresResourceURLAndRotatedRefreshToken() async throws {
        let f = try await F { _ in .tokens("qwen-new", extra: #","refresh_token":"qwen-rotated","resource_url":"portal2.qwen.ai""#) }
        defer { f.stop() }
        f.put("qwen-1.json", #"{"type":"qwen","access_token":"qwen-old","refresh_token":"qwen-original","resource_url":"portal.qwen.ai","expired":"\#(RFC3339.format(F.start - 1))"}"#)
        f.store.reload()

        #expect(try await f.store.accessToken(for: "qwen-1.json") == "qwen-new")

        #expect(f.server.calls(to: "/token/qwen").first?.form == ["grant_type": "refresh_token", "refresh_token": "qwen-original", "client_id": "qwen-client"])
        let saved = try #require(f.read("qwen-1.json"))
        #expect(saved["resource_url"]?.string == "portal2.qwen.ai")
        #expect(saved["refresh_token"]?.string == "qwen-rotated")
        #expect(f.store.accounts.first?.file.resourceURL == "portal2.qwen.ai")
        #expect(f.store.accounts.first?.file.refreshToken == "qwen-rotated")
    }

    @Test func refreshAfterRejectionThenNoSecondCall() async throws {
        let f = try await F { _ in .tokens("after-401") }
        defer { f.stop() }
        f.put("claude-a.json", F.claude(expiresIn: 5000))
        f.store.reload()

        #expect(try await f.store.accessToken(for: "claude-a.json") == "old-access")
        #expect(try await f.store.refreshAfterRejection(id: "claude-a.json", rejected: "old-access") == "after-401")
        #expect(f.server.calls.count == 1)
        // A caller that was still holding the old token: already replaced, no call.
        #expect(try await f.store.refreshAfterRejection(id: "claude-a.json", rejected: "old-access") == "after-401")
        #expect(f.server.calls.count == 1)
        #expect(try await f.store.accessToken(for: "claude-a.json") == "after-401")
        #expect(f.read("claude-a.json")?["access_token"]?.string == "after-401")
    }

    @Test func concurrentCallersShareOneRefresh() async throws {
        let gate = StoreTestGate()
        let f = try await F { _ in StoreTestReply(status: 200, body: #"{"access_token":"shared-new","expires_in":3600}"#, gate: gate) }
        defer { f.stop() }
        f.put("claude-a.json", F.claude(expiresIn: -60))
        f.store.reload()

        let tokens = await withTaskGroup(of: String?.self) { group in
            for _ in 0..<100 { group.addTask { try? await f.store.accessToken(for: "claude-a.json") } }
            for _ in 0..<20 { group.addTask { try? await f.store.refreshAfterRejection(id: "claude-a.json", rejected: "old-access") } }
            // Hold the one refresh until it has reached the endpoint, then let it answer.
            while f.server.calls.isEmpty { try? await Task.sleep(for: .milliseconds(5)) }
            gate.open()
            var out: [String?] = []
            for await t in group { out.append(t) }
            return out
        }

        #expect(tokens.count == 120)
        #expect(tokens.allSatisfy { $0 == "shared-new" })
        #expect(f.server.calls.count == 1)
    }

    @Test func failureIsolatesOneAccountAndBacksOff() async throws {
        let f = try await F { call in
            call.refreshToken == "refresh-broken-a"
                ? StoreTestReply(status: 503, body: #"{"error":"temporarily_unavailable","error_description":"cannot use refresh-broken-a now"}"#)
                : .tokens("fresh-\(call.refreshToken ?? "")")
        }
        defer { f.stop() }
        f.put("claude-a.json", F.claude(access: "access-a", refresh: "refresh-broken-a", expiresIn: -5))
        f.put("claude-b.json", F.claude(access: "access-b", refresh: "refresh-good-b", expiresIn: -5))
        f.store.reload()

        let error = await #expect(throws: AccountError.self) { try await f.store.accessToken(for: "claude-a.json") }
        #expect(try await f.store.accessToken(for: "claude-b.json") == "fresh-refresh-good-b")

        // 503 is retried: three attempts, then the failure is recorded with a one-minute back-off.
        #expect(f.server.calls.filter { $0.refreshToken == "refresh-broken-a" }.count == 3)
        #expect(error?.account == "claude-a.json")
        #expect(error?.reason.contains("HTTP 503") == true)
        #expect(error?.retryAt == F.start + 60)
        let a = try #require(f.store.accounts.first { $0.id == "claude-a.json" })
        guard case .failed(let reason, let retryAt) = a.status else { Issue.record("status \(a.status)"); return }
        #expect(reason.contains("HTTP 503"))
        #expect(retryAt == F.start + 60)
        #expect(!a.isUsable(now: F.start))
        #expect(f.store.accounts.first { $0.id == "claude-b.json" }?.status == .ready)
        #expect(f.log.warnings().contains { $0.contains("claude-a.json") && $0.contains("HTTP 503") })
        // No secret in what was said.
        let said = f.log.all.map(\.1) + [error?.description ?? ""]
        #expect(!said.contains { $0.contains("refresh-broken-a") || $0.contains("access-a") })

        // Inside the back-off: no call, an error saying when.
        f.clock.advance(30)
        let waiting = await #expect(throws: AccountError.self) { try await f.store.accessToken(for: "claude-a.json") }
        #expect(waiting?.reason.contains(RFC3339.format(F.start + 60)) == true)
        #expect(f.server.calls.filter { $0.refreshToken == "refresh-broken-a" }.count == 3)

        // After it: tried again, fails again, the back-off doubles.
        f.clock.advance(31)
        await #expect(throws: AccountError.self) { try await f.store.accessToken(for: "claude-a.json") }
        #expect(f.server.calls.filter { $0.refreshToken == "refresh-broken-a" }.count == 6)
        #expect(f.store.accounts.first?.status == .failed(reason: reason, retryAt: F.start + 61 + 120))

        // The endpoint recovers: success clears the failure.
        f.server.set { _ in .tokens("recovered-a") }
        f.clock.advance(121)
        #expect(try await f.store.accessToken(for: "claude-a.json") == "recovered-a")
        #expect(f.store.accounts.first?.status == .ready)
    }

    @Test func failedRefreshHandsOutTheStillValidOldToken() async throws {
        let f = try await F { _ in .error(400, "invalid_client") }
        defer { f.stop() }
        f.put("claude-a.json", F.claude(expiresIn: 100))  // within the 300 s lead, not expired
        f.store.reload()

        #expect(try await f.store.accessToken(for: "claude-a.json") == "old-access")
        #expect(f.server.calls.count == 1)  // a 4xx is not retried
        let account = try #require(f.store.accounts.first)
        guard case .failed(let reason, _) = account.status else { Issue.record("status \(account.status)"); return }
        #expect(reason.contains("invalid_client"))
        #expect(account.isUsable(now: f.clock.value))
        // Backing off: still the old token, no new call.
        #expect(try await f.store.accessToken(for: "claude-a.json") == "old-access")
        #expect(f.server.calls.count == 1)
    }

    @Test func invalidGrantNeedsLoginUntilTheFileChanges() async throws {
        let f = try await F { _ in .error(400, "invalid_grant") }
        defer { f.stop() }
        f.put("claude-a.json", F.claude(expiresIn: -1))
        f.store.reload()

        let error = await #expect(throws: AccountError.self) { try await f.store.accessToken(for: "claude-a.json") }
        #expect(error?.needsLogin == true)
        #expect(error?.reason.contains("cliproxy login claude") == true)
        guard case .needsLogin(let reason) = f.store.accounts.first?.status else { Issue.record("not needsLogin"); return }
        #expect(reason.contains("invalid_grant"))
        #expect(f.log.warnings().contains { $0.contains("claude-a.json") && $0.contains("cliproxy login claude") })

        // Never retried, however long one waits, nor after a 401.
        f.clock.advance(86_400)
        await #expect(throws: AccountError.self) { try await f.store.accessToken(for: "claude-a.json") }
        await #expect(throws: AccountError.self) { try await f.store.refreshAfterRejection(id: "claude-a.json", rejected: "old-access") }
        #expect(f.server.calls.count == 1)

        // A new login rewrites the file: the account starts over.
        f.server.set { _ in .tokens("after-login-refresh") }
        f.put("claude-a.json", F.claude(access: "relogged", refresh: "relogged-refresh", expiresIn: -1))
        #expect(f.store.reload().changed == ["claude-a.json"])
        #expect(f.store.accounts.first?.status == .ready)
        #expect(try await f.store.accessToken(for: "claude-a.json") == "after-login-refresh")
    }

    @Test func refreshTokenReusedNeedsLogin() async throws {
        let f = try await F { _ in StoreTestReply(status: 401, body: #"{"error":{"code":"refresh_token_reused","message":"already used"}}"#) }
        defer { f.stop() }
        f.put("codex-a.json", #"{"type":"codex","access_token":"c-old","refresh_token":"rt_reused_x","expired":"\#(RFC3339.format(F.start - 1))"}"#)
        f.store.reload()

        let error = await #expect(throws: AccountError.self) { try await f.store.accessToken(for: "codex-a.json") }
        #expect(error?.needsLogin == true)
        #expect(error?.reason.contains("refresh_token_reused") == true)
        #expect(f.server.calls.count == 1)
    }

    @Test func networkErrorsAndServerErrorsAreRetriedThenSucceed() async throws {
        let f = try await F { _ in .tokens("unused") }
        defer { f.stop() }
        let attempts = StoreTestClock(0)  // a counter
        f.server.set { _ in
            attempts.advance(1)
            return attempts.value < 3 ? StoreTestReply(status: 502, body: "bad gateway") : .tokens("third-time")
        }
        f.put("claude-a.json", F.claude(expiresIn: -1))
        f.store.reload()

        #expect(try await f.store.accessToken(for: "claude-a.json") == "third-time")
        #expect(f.server.calls.count == 3)
        #expect(f.store.accounts.first?.status == .ready)
    }

    @Test func unreachableEndpointIsAFailureWithAReason() async throws {
        let f = try await F { _ in .tokens("unused") }
        f.stop()
        // A port nothing listens on.
        f.store.specs(["claude": F.spec(.claude, tokenURL: "http://127.0.0.1:9/token", lead: 300)])
        f.put("claude-a.json", F.claude(expiresIn: -1))
        f.store.reload()

        let error = await #expect(throws: AccountError.self) { try await f.store.accessToken(for: "claude-a.json") }
        #expect(error?.reason.contains("cannot reach the token endpoint") == true)
        #expect(error?.retryAt == F.start + 60)
    }

    @Test func refreshLoopRefreshesAccountsNearingExpiry() async throws {
        let f = try await F { call in .tokens("loop-\(call.refreshToken ?? "")") }
        defer { f.stop() }
        f.put("claude-near.json", F.claude(access: "near-old", refresh: "near-refresh", expiresIn: 120))
        f.put("claude-far.json", F.claude(access: "far-old", refresh: "far-refresh", expiresIn: 7200))
        f.put("claude-off.json", F.claude(access: "off-old", refresh: "off-refresh", expiresIn: 60, extra: #","disabled":true"#))
        f.store.reload()

        let loop = Task { await f.store.runRefreshLoop(every: 0.02) }
        for _ in 0..<1000 where f.read("claude-near.json")?["access_token"]?.string != "loop-near-refresh" {
            try await Task.sleep(for: .milliseconds(10))
        }
        loop.cancel()
        await loop.value

        #expect(f.read("claude-near.json")?["access_token"]?.string == "loop-near-refresh")
        #expect(f.server.calls.map(\.refreshToken) == ["near-refresh"])
        #expect(f.read("claude-far.json")?["access_token"]?.string == "far-old")
        #expect(f.read("claude-off.json")?["access_token"]?.string == "off-old")
    }

    @Test func refreshLoopSkipsAccountsThatNeedALogin() async throws {
        let f = try await F { _ in .error(400, "invalid_grant") }
        defer { f.stop() }
        f.put("claude-a.json", F.claude(expiresIn: 60))
        f.store.reload()

        #expect(await f.store.refreshDue() == ["claude-a.json"])
        #expect(await f.store.refreshDue() == [])
        #expect(f.server.calls.count == 1)
    }
}
