/// Codex: browser sign-in, then the account from the id token's claims
/// (`email`; `https://api.openai.com/auth` → `chatgpt_account_id`,
/// `chatgpt_plan_type`).
struct CodexLogin: Sendable {
    let flow: AuthorizationCodeFlow
    let directory: AuthDirectory

    func run() async throws(LoginError) -> LoginResult {
        let grant = try await flow.signIn()
        let tokens = try await flow.exchange(grant)
        guard let id = tokens.idToken, let claims = JWT.payload(id), let email = claims["email"]?.string, !email.isEmpty else {
            throw LoginError(.badResponse, "the token answer carried no id_token with an email, so the account is unknown",
                             suggestion: "Run the login again; if it keeps happening, check `upstreams.codex.token-url`.")
        }
        let auth = claims["https://api.openai.com/auth"]
        let plan = auth?["chatgpt_plan_type"]?.string.flatMap { $0.isEmpty ? nil : $0 }
        let now = LoginClock.now()
        let fields: [String: JSONValue] = [
            "id_token": .string(id),
            "access_token": .string(tokens.accessToken),
            "refresh_token": .string(tokens.refreshToken ?? ""),
            "account_id": .string(auth?["chatgpt_account_id"]?.string ?? ""),
            "last_refresh": .string(RFC3339.format(now)),
            "email": .string(email),
            "type": .string(AccountKind.codex.rawValue),
            "expired": .string(RFC3339.format(now + tokens.expiresIn)),
        ]
        let name = plan.map { "codex-\(email)-\($0).json" } ?? "codex-\(email).json"
        return try LoginSaver.save(kind: .codex, name: name, fields: .object(fields), who: email,
                                   directory: directory, console: flow.console)
    }
}
