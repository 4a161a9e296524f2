import UpstreamTransport

/// One OAuth refresh-token exchange, as data: the request built from the
/// provider's ``OAuthSpec`` and an account's file, the answer read back into
/// a ``TokenSet`` or a failure, and the refreshed file. No I/O here.
enum RefreshCall {
    /// The tokens a token endpoint issued.
    struct TokenSet: Sendable, Equatable {
        var accessToken: String
        var refreshToken: String?
        var idToken: String?
        var expiresIn: Double?
        /// Qwen: the host the account's API lives on.
        var resourceURL: String?
    }

    /// How a token endpoint answered.
    enum Answer: Sendable, Equatable {
        case tokens(TokenSet)
        /// The refresh token is refused for good (`invalid_grant`, `refresh_token_reused`).
        case needsLogin(String)
        /// Any other failure; `retryable` for 5xx answers (network errors are
        /// the sender's business).
        case failed(String, retryable: Bool)
    }

    /// OAuth `error` codes after which only a new login helps.
    static let terminalErrors: Set<String> = ["invalid_grant", "refresh_token_reused"]

    /// Used when an answer does not say how long its token lives.
    static let defaultLifetime: Double = 3600

    /// The refresh request: POST to the spec's token URL, form- or
    /// JSON-encoded as the spec says, `Accept: application/json`.
    static func request(for file: CredentialFile, spec: OAuthSpec) -> UpstreamRequest {
        var fields: [(String, String)] = [("grant_type", "refresh_token"), ("refresh_token", file.refreshToken ?? "")]
        // Gemini files carry the OAuth client they were issued to; a refresh must use the same one.
        let ownClient = file.kind == .gemini ? file.clientID.flatMap { $0.isEmpty ? nil : $0 } : nil
        fields.append(("client_id", ownClient ?? spec.clientID))
        let secret = ownClient != nil ? (file.clientSecret ?? spec.clientSecret) : spec.clientSecret
        if let secret, !secret.isEmpty { fields.append(("client_secret", secret)) }
        for key in spec.refreshParams.keys.sorted() where !fields.contains(where: { $0.0 == key }) {
            fields.append((key, spec.refreshParams[key]!))
        }
        let json = spec.tokenEncoding.lowercased() == "json"
        let body: [UInt8]
        if json {
            body = JSONValue.object(Dictionary(fields.map { ($0.0, JSONValue.string($0.1)) }, uniquingKeysWith: { a, _ in a })).compact()
        } else {
            body = Array(fields.map { formEncode($0.0) + "=" + formEncode($0.1) }.joined(separator: "&").utf8)
        }
        return UpstreamRequest(method: "POST", url: spec.tokenURL, headers: [
            ("Content-Type", json ? "application/json" : "application/x-www-form-urlencoded"),
            ("Accept", "application/json"),
            ("User-Agent", "cliproxy"),
        ], body: body)
    }

    /// Reads a token endpoint's answer. `secrets` are scrubbed from any text
    /// quoted from the answer.
    static func read(status: Int, body: [UInt8], secrets: [String]) -> Answer {
        let json = JSONValue.parse(body)
        if (200..<300).contains(status) {
            guard let json, let access = json["access_token"]?.string, !access.isEmpty else {
                return .failed("the token endpoint answered HTTP \(status) without an access_token", retryable: false)
            }
            let expires = json["expires_in"]?.number ?? json["expires_in"]?.string.flatMap(Double.init)
            return .tokens(TokenSet(accessToken: access,
                                    refreshToken: nonEmpty(json["refresh_token"]?.string),
                                    idToken: nonEmpty(json["id_token"]?.string),
                                    expiresIn: expires ?? defaultLifetime,
                                    resourceURL: nonEmpty(json["resource_url"]?.string)))
        }
        let (code, detail) = oauthError(json)
        var what = "the token endpoint answered HTTP \(status)"
        if let code { what += " (\(scrub(code, secrets))\(detail.map { ": " + scrub($0, secrets) } ?? ""))" }
        if let code, terminalErrors.contains(code) { return .needsLogin(what) }
        return .failed(what, retryable: status >= 500)
    }

    /// The refreshed credential file: new tokens stored (unknown fields
    /// kept); Codex re-derives `account_id` and `email` from a new id token;
    /// Qwen keeps a new `resource_url`.
    static func apply(_ tokens: TokenSet, to file: CredentialFile, now: Double) -> CredentialFile {
        var out = file
        out.store(accessToken: tokens.accessToken, refreshToken: tokens.refreshToken, idToken: tokens.idToken,
                  expiresIn: tokens.expiresIn, now: now)
        if file.kind == .codex, let id = tokens.idToken, let claims = JWT.payload(id) {
            if let account = claims["https://api.openai.com/auth"]?["chatgpt_account_id"]?.string, !account.isEmpty {
                out.json.set("account_id", .string(account))
            }
            if let email = claims["email"]?.string, !email.isEmpty { out.json.set("email", .string(email)) }
        }
        if file.kind == .qwen, let url = tokens.resourceURL { out.json.set("resource_url", .string(url)) }
        return out
    }

    // MARK: helpers

    /// The OAuth `error` code and description: `{"error":"invalid_grant","error_description":…}`
    /// or `{"error":{"code"|"type":…,"message":…}}`.
    static func oauthError(_ json: JSONValue?) -> (String?, String?) {
        guard let json else { return (nil, nil) }
        if let code = json["error"]?.string {
            return (code, json["error_description"]?.string.map { clip($0) })
        }
        if let e = json["error"], e.object != nil {
            let code = e["code"]?.string ?? e["type"]?.string
            return (code, e["message"]?.string.map { clip($0) })
        }
        return (nil, nil)
    }

    static func clip(_ text: String) -> String { text.count > 200 ? String(text.prefix(200)) + "…" : text }

    static func scrub(_ text: String, _ secrets: [String]) -> String {
        var t = text
        for s in secrets where s.count >= 8 { t = t.replacing(s, with: "[redacted]") }
        return t
    }

    static func nonEmpty(_ s: String?) -> String? { (s?.isEmpty ?? true) ? nil : s }

    /// `application/x-www-form-urlencoded` escaping: unreserved characters
    /// stay, everything else is percent-encoded.
    static func formEncode(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            switch b {
            case 0x41...0x5A, 0x61...0x7A, 0x30...0x39, 0x2D, 0x2E, 0x5F, 0x7E: out.unicodeScalars.append(Unicode.Scalar(b))
            default:
                let hex = Array("0123456789ABCDEF".unicodeScalars)
                out.unicodeScalars.append("%")
                out.unicodeScalars.append(hex[Int(b >> 4)])
                out.unicodeScalars.append(hex[Int(b & 0xF)])
            }
        }
        return out
    }
}
