import Synchronization
@testable import Accounts

/// A fake OAuth provider: `GET /authorize` remembers the request and
/// redirects to its `redirect_uri` with a code and the state (or an error);
/// `POST /token` accepts only that code, that redirect URI, the client id,
/// and a `code_verifier` whose S256 challenge is the one `/authorize` saw —
/// and for JSON bodies, the state too. Other paths go to `other`.
final class LoginFakeProvider: Sendable {
    static let code = "code-4711-from-the-fake"
    final class Box: Sendable {
        let authorize = Mutex<LoginSeenCall?>(nil)
    }

    let server: LoginFakeServer
    let clientID: String
    private let box: Box

    /// `deny`: `/authorize` redirects with `error=access_denied` instead of a code.
    init(clientID: String = "client-1", deny: Bool = false,
         token: @escaping @Sendable (LoginSeenCall) -> LoginFakeAnswer,
         other: @escaping LoginFakeServer.Handler = { _ in .notFound }) {
        let box = Box()
        self.box = box
        self.clientID = clientID
        server = LoginFakeServer { call in
            switch (call.method, call.path) {
            case ("GET", "/authorize"):
                box.authorize.withLock { $0 = call }
                let back = deny
                    ? [("error", "access_denied"), ("error_description", "The user said no"), ("state", call.param("state") ?? "")]
                    : [("code", Self.code), ("state", call.param("state") ?? "")]
                return .redirect(URLQuery.appending(back, to: call.param("redirect_uri") ?? ""))
            case ("POST", "/token"):
                guard let auth = box.authorize.withLock({ $0 }) else { return .json(400, #"{"error":"invalid_request"}"#) }
                let f = call.fields
                let challengeOK = f["code_verifier"].map { PKCE.challenge(for: $0) } == auth.param("code_challenge")
                let stateOK = call.json == nil || f["state"] == auth.param("state")
                guard f["grant_type"] == "authorization_code", f["code"] == Self.code, f["client_id"] == clientID,
                      f["redirect_uri"] == auth.param("redirect_uri"), challengeOK, stateOK else {
                    return .json(400, #"{"error":"invalid_grant","error_description":"code, client, redirect, state or PKCE verifier do not match"}"#)
                }
                return token(call)
            default:
                return other(call)
            }
        }
    }

    func start() async throws { try await server.start() }
    func stop() { server.stop() }

    var authorizeCall: LoginSeenCall? { box.authorize.withLock { $0 } }
    var tokenCalls: [LoginSeenCall] { server.requests(to: "/token") }

    /// An OAuthSpec pointing at this fake, with a free callback port.
    func spec(callbackPath: String = "/callback", encoding: String = "form", secret: String? = nil,
              scopes: [String] = ["openid", "email"], params: [String: String] = [:], urls: [String: String] = [:]) -> OAuthSpec {
        OAuthSpec(authorizeURL: server.url + "/authorize", tokenURL: server.url + "/token", clientID: clientID, clientSecret: secret,
                  scopes: scopes, callbackPort: LoginTestEnv.freePort(), callbackPath: callbackPath, authorizeParams: params,
                  pkce: true, tokenEncoding: encoding, urls: urls)
    }
}
