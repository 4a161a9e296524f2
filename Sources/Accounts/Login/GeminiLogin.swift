/// Gemini CLI: Google browser sign-in, the email from userinfo, then the
/// Code Assist project (``CodeAssistSetup``). The file keeps the tokens in a
/// `token` object together with the OAuth client they were issued to.
struct GeminiLogin: Sendable {
    let flow: AuthorizationCodeFlow
    let directory: AuthDirectory

    func run() async throws(LoginError) -> LoginResult {
        let spec = flow.spec
        guard let userinfo = spec.urls["userinfo"], let codeAssist = spec.urls["code_assist"] else {
            throw LoginError(.misconfigured, "the gemini-cli oauth data lacks urls.userinfo or urls.code_assist",
                             suggestion: "Restore them in Rules/providers/gemini-cli.json.")
        }
        let grant = try await flow.signIn()
        let tokens = try await flow.exchange(grant)

        let who = try await flow.http.get(userinfo, bearer: tokens.accessToken, what: "read the account's email")
        guard who.ok, let email = who.json?["email"]?.string, !email.isEmpty else {
            if !who.ok {
                throw LoginHTTP.failure(who, host: URLQuery.hostPort(userinfo), what: "tell the account's email", secrets: [tokens.accessToken],
                                        suggestion: "Run the login again and allow access to the email address.")
            }
            throw LoginError(.badResponse, "\(URLQuery.hostPort(userinfo)) did not say the account's email",
                             suggestion: "Run the login again and allow access to the email address.")
        }

        let setup = CodeAssistSetup(http: flow.http, accessToken: tokens.accessToken, codeAssistURL: codeAssist,
                                    projectsURL: spec.urls["projects"], options: flow.options, console: flow.console)
        let project = try await setup.run()

        var token: [String: JSONValue] = [
            "access_token": .string(tokens.accessToken),
            "token_type": .string("Bearer"),
            "refresh_token": .string(tokens.refreshToken ?? ""),
            "expiry": .string(RFC3339.format(LoginClock.now() + tokens.expiresIn)),
            "token_uri": .string(spec.tokenURL),
            "client_id": .string(spec.clientID),
            "scopes": .array(spec.scopes.map(JSONValue.string)),
            "universe_domain": .string("googleapis.com"),
        ]
        if let secret = spec.clientSecret, !secret.isEmpty { token["client_secret"] = .string(secret) }
        if tokens.refreshToken == nil {
            flow.console.say("Google issued no refresh token; the account works until its access token expires (about an hour).")
        }
        let fields: [String: JSONValue] = [
            "token": .object(token),
            "project_id": .string(project),
            "email": .string(email),
            "auto": .bool(flow.options.projectID == nil),
            "checked": .bool(false),
            "type": .string(AccountKind.gemini.rawValue),
        ]
        return try LoginSaver.save(kind: .gemini, name: "gemini-\(email)-\(project).json", fields: .object(fields), who: email,
                                   directory: directory, console: flow.console)
    }
}
