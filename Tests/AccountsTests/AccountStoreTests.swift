import Testing
@testable import Accounts

/// Reading the auth directory, snapshots and usability.
@Suite struct AccountStoreTests {
    typealias F = StoreTestFixture

    @Test func reloadAddsChangesRemovesAndSkipsMalformedFiles() async throws {
        let f = try await F { _ in .tokens("unused") }
        defer { f.stop() }
        f.put("claude-a.json", F.claude(access: "a1", expiresIn: 3600))
        f.put("codex-b.json", #"{"type":"codex","access_token":"b1","refresh_token":"rb","expired":"2026-05-01T00:00:00Z"}"#)
        f.put("notes.txt", "not a credential")

        let first = f.store.reload()
        #expect(first == ReloadReport(added: ["claude-a.json", "codex-b.json"]))
        #expect(f.store.accounts.map(\.id) == ["claude-a.json", "codex-b.json"])
        #expect(f.store.accounts.map(\.file.kind) == [.claude, .codex])

        f.put("broken.json", #"{"type":"claude","access_token":"#)
        f.put("codex-b.json", #"{"type":"codex","access_token":"b2","refresh_token":"rb","expired":"2026-05-01T00:00:00Z"}"#)
        f.remove("claude-a.json")
        f.put("gemini-c.json", #"{"type":"gemini","token":{"access_token":"c1","refresh_token":"rc","expiry":"2026-05-01T00:00:00Z"}}"#)

        let second = f.store.reload()
        #expect(second.added == ["gemini-c.json"])
        #expect(second.changed == ["codex-b.json"])
        #expect(second.removed == ["claude-a.json"])
        #expect(second.problems.map(\.file) == ["broken.json"])
        #expect(second.problems.first?.reason.contains("not valid JSON") == true)
        #expect(f.store.accounts.map(\.id) == ["codex-b.json", "gemini-c.json"])
        #expect(f.store.accounts.first?.file.accessToken == "b2")
        #expect(f.log.warnings().contains { $0.contains("broken.json") && $0.contains("not valid JSON") })
        // The rest keep working.
        #expect(try await f.store.accessToken(for: "gemini-c.json") == "c1")
    }

    @Test func aBrokenFileIsLoggedOnceAndAFileThatBreaksIsDropped() async throws {
        let f = try await F { _ in .tokens("unused") }
        defer { f.stop() }
        f.put("claude-a.json", F.claude(expiresIn: 3600))
        f.put("empty.json", "")
        f.store.reload()
        f.put("claude-a.json", #"{"type":"claude"}"#)

        let report = f.store.reload()
        #expect(report.removed == ["claude-a.json"])
        #expect(Set(report.problems.map(\.file)) == ["claude-a.json", "empty.json"])
        #expect(f.store.accounts.isEmpty)
        await #expect(throws: AccountError.self) { try await f.store.accessToken(for: "claude-a.json") }
        #expect(f.log.warnings().filter { $0.contains("empty.json") }.count == 1)
        #expect(f.log.warnings().filter { $0.contains("claude-a.json") }.count == 1)
    }

    @Test func ownWritesAreNotChangesAndStateIsKept() async throws {
        let f = try await F { call in
            call.refreshToken == "refresh-failing" ? .error(500, "server_error") : .tokens("refreshed", extra: #","refresh_token":"rotated-refresh""#)
        }
        defer { f.stop() }
        f.put("claude-a.json", F.claude(expiresIn: 10))
        f.put("claude-b.json", F.claude(access: "b-old", refresh: "refresh-failing", expiresIn: 10))
        f.store.reload()

        #expect(try await f.store.accessToken(for: "claude-a.json") == "refreshed")
        #expect(try await f.store.accessToken(for: "claude-b.json") == "b-old")  // failed, old token still valid

        let report = f.store.reload()
        #expect(report.isEmpty)
        #expect(report.problems.isEmpty)
        let accounts = f.store.accounts
        #expect(accounts[0].file.refreshToken == "rotated-refresh")
        #expect(accounts[0].status == .ready)
        guard case .failed = accounts[1].status else { Issue.record("the failure was forgotten: \(accounts[1].status)"); return }
        // Kept back-off: still no new call for b.
        let calls = f.server.calls.count
        #expect(try await f.store.accessToken(for: "claude-b.json") == "b-old")
        #expect(f.server.calls.count == calls)
    }

    @Test func unknownAccountIsAnError() async throws {
        let f = try await F { _ in .tokens("unused") }
        defer { f.stop() }
        f.store.reload()
        let error = await #expect(throws: AccountError.self) { try await f.store.accessToken(for: "nobody.json") }
        #expect(error?.description.contains("nobody.json") == true)
    }

    @Test func missingOAuthSettingsFallBackToTheValidToken() async throws {
        let f = try await F { _ in .tokens("unused") }
        defer { f.stop() }
        f.store.specs([:])
        f.put("claude-a.json", F.claude(expiresIn: 100))
        f.put("claude-b.json", F.claude(access: "b", expiresIn: -100))
        f.store.reload()

        #expect(try await f.store.accessToken(for: "claude-a.json") == "old-access")
        let error = await #expect(throws: AccountError.self) { try await f.store.accessToken(for: "claude-b.json") }
        #expect(error?.reason.contains("Rules/providers/claude.json") == true)
        #expect(f.server.calls.isEmpty)
    }

    @Test func usability() throws {
        let now = F.start
        let valid = try CredentialFile.parse(name: "v.json", bytes: Array(F.claude(expiresIn: 60).utf8)).get()
        let expired = try CredentialFile.parse(name: "e.json", bytes: Array(F.claude(expiresIn: -60).utf8)).get()
        let disabled = try CredentialFile.parse(name: "d.json", bytes: Array(F.claude(expiresIn: 60, extra: #","disabled":true"#).utf8)).get()
        let failed = AccountStatus.failed(reason: "x", retryAt: now + 60)
        let login = AccountStatus.needsLogin(reason: "x")

        #expect(Account(id: "v", file: valid, status: .ready).isUsable(now: now))
        #expect(Account(id: "e", file: expired, status: .ready).isUsable(now: now))
        #expect(Account(id: "v", file: valid, status: failed).isUsable(now: now))
        #expect(Account(id: "v", file: valid, status: login).isUsable(now: now))
        #expect(!Account(id: "e", file: expired, status: failed).isUsable(now: now))
        #expect(!Account(id: "e", file: expired, status: login).isUsable(now: now))
        #expect(!Account(id: "d", file: disabled, status: .ready).isUsable(now: now))
    }

    @Test func jwtPayloadDecodesTheMiddlePart() {
        let token = F.jwt(#"{"email":"a@b.c","n":1}"#)
        #expect(JWT.payload(token) == .object(["email": .string("a@b.c"), "n": .number(1)]))
        #expect(JWT.payload("only.two") == nil)
        #expect(JWT.payload("a.!!!.c") == nil)
        #expect(JWT.payload("a.bm90IGpzb24.c") == nil)  // "not json"
    }

    @Test func backoffDoublesToThirtyMinutes() {
        #expect((1...7).map { AccountStore.backoff(failures: $0) } == [60, 120, 240, 480, 960, 1800, 1800])
    }
}
