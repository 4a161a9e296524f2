import Testing
@testable import Accounts

@Suite struct CredentialFileTests {
    @Test func rfc3339RoundTrips() {
        #expect(RFC3339.parse("1970-01-01T00:00:00Z") == 0)
        #expect(RFC3339.parse("2026-04-14T10:00:00Z") == 1776160800)
        #expect(RFC3339.parse("2026-04-14T12:00:00+02:00") == 1776160800)
        #expect(RFC3339.parse("2026-04-14T10:00:00.5Z") == 1776160800.5)
        #expect(RFC3339.parse("2026-04-14 10:00") == nil)
        #expect(RFC3339.format(1776160800) == "2026-04-14T10:00:00Z")
    }

    @Test func typeLessFileWithTokenIsGemini() throws {
        let text = #"{"token":{"access_token":"ya29.x","refresh_token":"1//r","expiry":"2026-04-14T10:00:00.123Z"},"project_id":"p1","email":"a@b.c"}"#
        let f = try CredentialFile.parse(name: "a@b.c-p1.json", bytes: Array(text.utf8)).get()
        #expect(f.kind == .gemini)
        #expect(f.kind.provider == "gemini-cli")
        #expect(f.accessToken == "ya29.x")
        #expect(f.expiry == 1776160800.123)
        #expect(f.projectID == "p1")
    }

    @Test func malformedFilesAreRefusedWithAReason() {
        for (text, why) in [("", "empty"), ("{\"type\":\"codex\",", "not valid JSON"), ("[1]", "not a JSON object"),
                            ("{\"type\":\"nope\",\"access_token\":\"x\"}", "unknown type"), ("{\"email\":\"x\"}", "no \"type\""),
                            ("{\"type\":\"claude\"}", "no access_token")] {
            guard case .failure(let p) = CredentialFile.parse(name: "f.json", bytes: Array(text.utf8)) else {
                Issue.record("accepted \(text)"); continue
            }
            #expect(p.reason.contains(why), "\(p.reason)")
        }
    }

    @Test func storeKeepsUnknownFields() throws {
        let text = #"{"type":"claude","access_token":"old","refresh_token":"r1","expired":"2026-01-01T00:00:00Z","email":"e@x","custom":{"k":[1,2]}}"#
        var f = try CredentialFile.parse(name: "claude-e@x.json", bytes: Array(text.utf8)).get()
        f.store(accessToken: "new", refreshToken: "r2", idToken: nil, expiresIn: 3600, now: 1776160800)
        #expect(f.accessToken == "new")
        #expect(f.refreshToken == "r2")
        #expect(f.expiry == 1776164400)
        #expect(f.json["last_refresh"]?.string == "2026-04-14T10:00:00Z")
        #expect(f.json["custom"] == .object(["k": .array([.number(1), .number(2)])]))
    }
}
