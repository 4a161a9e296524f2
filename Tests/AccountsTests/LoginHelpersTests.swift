import Testing
@testable import Accounts

/// The pieces of the logins that need no server: PKCE, the authorize URL,
/// judging callbacks and pasted lines.
@Suite struct LoginHelpersTests {
    @Test func pkceMatchesTheRFC7636Example() {
        // RFC 7636 appendix B.
        #expect(PKCE.challenge(for: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
        let pair = PKCE.make(byteCount: 96)
        #expect(pair.verifier.count == 128)
        #expect(pair.verifier.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
        #expect(PKCE.make(byteCount: 32).verifier.count == 43)
        #expect(PKCE.make(byteCount: 96).verifier != pair.verifier)
        #expect(PKCE.base64URL(Array("any carnal pleas".utf8)) == "YW55IGNhcm5hbCBwbGVhcw")
        #expect(PKCE.randomState().count == 32 && PKCE.randomState().allSatisfy(\.isHexDigit))
    }

    @Test func theAuthorizeURLIsPercentEncoded() {
        let spec = OAuthSpec(authorizeURL: "https://auth.example/oauth/authorize", tokenURL: "https://auth.example/token", clientID: "app_1",
                             scopes: ["openid", "user:profile"], authorizeParams: ["prompt": "login", "x": "a b&c"])
        let url = AuthorizationCodeFlow.authorizeURL(spec: spec, base: spec.authorizeURL!, redirectURI: "http://localhost:1455/auth/callback",
                                                     state: "ab12", challenge: "ch-_1")
        #expect(url == "https://auth.example/oauth/authorize?client_id=app_1&redirect_uri=http%3A%2F%2Flocalhost%3A1455%2Fauth%2Fcallback"
                + "&response_type=code&scope=openid%20user%3Aprofile&state=ab12&code_challenge=ch-_1&code_challenge_method=S256&prompt=login&x=a%20b%26c")
        let params = URLQuery.parameters(ofURL: Substring(url))
        #expect(params.first { $0.0 == "x" }?.1 == "a b&c")
        #expect(params.first { $0.0 == "redirect_uri" }?.1 == "http://localhost:1455/auth/callback")
    }

    @Test func callbacksAreJudgedByStateFirst() {
        #expect(SignInAnswer.judge([("code", "c1"), ("state", "s1")], expectedState: "s1") == .code("c1", state: "s1"))
        #expect(SignInAnswer.judge([("code", "c1"), ("state", "s2")], expectedState: "s1") == .stateMismatch)
        #expect(SignInAnswer.judge([("code", "c1")], expectedState: "s1") == .stateMismatch)
        #expect(SignInAnswer.judge([("error", "access_denied"), ("state", "s2")], expectedState: "s1") == .stateMismatch)
        #expect(SignInAnswer.judge([("error", "access_denied"), ("error_description", "no"), ("state", "s1")], expectedState: "s1") == .refused("access_denied: no"))
        #expect(SignInAnswer.judge([("state", "s1")], expectedState: "s1") == .noCode)
    }

    @Test func pastedLinesAreRecognised() {
        let judge = { (line: String, claude: Bool) in SignInAnswer.judgePasted(line, expectedState: "s1", acceptsCodeHashState: claude) }
        #expect(judge("http://localhost:8085/oauth2callback?state=s1&code=4%2F0Ab&scope=email", false) == .code("4/0Ab", state: "s1"))
        #expect(judge("code=c9&state=s1", false) == .code("c9", state: "s1"))
        #expect(judge("c9#s1", true) == .code("c9", state: "s1"))
        #expect(judge("c9#s2", true) == .stateMismatch)
        #expect(judge("c9#s1", false) == nil)
        #expect(judge("hello there", true) == nil)
        #expect(judge("   ", true) == nil)
    }

    @Test func fileNamesStayPlain() {
        #expect(LoginSaver.safeName("codex-a/b@example.com.json") == "codex-a_b@example.com.json")
        #expect(LoginSaver.safeName("..x.json") == "_.x.json")
    }

    @Test func reLoginKeepsTheUsersFields() throws {
        let dir = LoginTestEnv.authDirectory()
        try dir.write(name: "claude-a@example.com.json", bytes: Array(#"{"type":"claude","access_token":"old","prefix":"team","priority":5}"#.utf8))
        let result = try LoginSaver.save(kind: .claude, name: "claude-a@example.com.json",
                                         fields: .object(["type": .string("claude"), "access_token": .string("new")]),
                                         who: "a@example.com", directory: dir, console: LoginTestConsole())
        let file = try CredentialFile.parse(name: result.file.name, bytes: dir.read(result.file.name) ?? []).get()
        #expect(file.accessToken == "new")
        #expect(file.prefix == "team")
        #expect(file.priority == 5)
    }
}
