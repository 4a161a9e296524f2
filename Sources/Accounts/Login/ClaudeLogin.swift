/// Claude: browser sign-in (or a pasted `code#state`), a JSON token exchange
/// that also carries the state, and the email from `account.email_address`.
struct ClaudeLogin: Sendable {
    let flow: AuthorizationCodeFlow
    let directory: AuthDirectory

    func run() async throws(LoginError) -> LoginResult {
        let grant = try await flow.signIn()
        let tokens = try await flow.exchange(grant, includeState: true)
        let email = tokens.json["account"]?["email_address"]?.string ?? ""
        let now = LoginClock.now()
        let fields: [String: JSONValue] = [
            "id_token": .string(""),
            "access_token": .string(tokens.accessToken),
            "refresh_token": .string(tokens.refreshToken ?? ""),
            "last_refresh": .string(RFC3339.format(now)),
            "email": .string(email),
            "type": .string(AccountKind.claude.rawValue),
            "expired": .string(RFC3339.format(now + tokens.expiresIn)),
        ]
        // Without an email the account still gets a file of its own.
        let name = email.isEmpty ? "claude-\(Int64(now * 1000)).json" : "claude-\(email).json"
        return try LoginSaver.save(kind: .claude, name: name, fields: .object(fields), who: email,
                                   directory: directory, console: flow.console)
    }
}
