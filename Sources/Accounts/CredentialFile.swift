import FoundationEssentials

/// Which kind of account a credential file holds: the file's `type` field.
/// The formats are those of the existing product, so an auth directory
/// written by it works here unchanged (and the other way round).
public enum AccountKind: String, Sendable, CaseIterable {
    case gemini, codex, claude, qwen

    /// The provider id the account serves (`Rules/providers/<id>.json`): a
    /// `gemini` file is a Gemini CLI (Code Assist) account.
    public var provider: String { self == .gemini ? "gemini-cli" : rawValue }

    /// The kind whose accounts serve `provider`, if any.
    public init?(provider: String) {
        switch provider {
        case "gemini-cli": self = .gemini
        case "codex": self = .codex
        case "claude": self = .claude
        case "qwen": self = .qwen
        default: return nil
        }
    }
}

/// One account's credential file, read whole: the fields the product knows
/// are typed views over `json`, and everything else in it is kept when the
/// file is written back.
///
/// Layout (the existing product's): a Gemini file keeps its tokens in a
/// `token` object (`access_token`, `refresh_token`, `expiry`, `client_id`,
/// `client_secret`, `token_uri`); Codex, Claude and Qwen files keep
/// `access_token`, `refresh_token`, `id_token`, `expired` and `last_refresh`
/// at the top level. Times are RFC 3339.
public struct CredentialFile: Sendable, Equatable {
    /// The file's name in the auth directory (`claude-user@example.com.json`):
    /// the account's id.
    public var name: String
    public var kind: AccountKind
    public var json: JSONValue

    public init(name: String, kind: AccountKind, json: JSONValue) {
        self.name = name
        self.kind = kind
        self.json = json
    }

    /// Why a file in the auth directory is not an account.
    public struct Problem: Error, Sendable, Equatable, CustomStringConvertible {
        public var file: String
        public var reason: String
        public var description: String { "\(file): \(reason)" }
    }

    /// Reads a credential file. A file without `type` is a Gemini file when it
    /// has a `token` object (the earliest files had no `type`); anything else
    /// without one is refused, as is a file whose tokens are missing.
    public static func parse(name: String, bytes: [UInt8]) -> Result<CredentialFile, Problem> {
        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            return .failure(Problem(file: name, reason: "the file is empty"))
        }
        guard let json = JSONValue.parse(bytes) else {
            return .failure(Problem(file: name, reason: "not valid JSON (truncated or hand-edited?)"))
        }
        guard json.object != nil else { return .failure(Problem(file: name, reason: "not a JSON object")) }
        let kind: AccountKind
        if let t = json["type"] {
            guard let s = t.string, let k = AccountKind(rawValue: s) else {
                return .failure(Problem(file: name, reason: "unknown type \(t.compactText); expected gemini, codex, claude or qwen"))
            }
            kind = k
        } else if json["token"]?.object != nil {
            kind = .gemini
        } else {
            return .failure(Problem(file: name, reason: "no \"type\" field and no \"token\" object; not a credential file"))
        }
        let file = CredentialFile(name: name, kind: kind, json: json)
        if (file.accessToken ?? "").isEmpty && (file.refreshToken ?? "").isEmpty {
            return .failure(Problem(file: name, reason: "no access_token or refresh_token in it"))
        }
        return .success(file)
    }

    // MARK: tokens

    private func tokenPath(_ field: String) -> String { kind == .gemini ? "token.\(field)" : field }

    /// The bearer token for the upstream. Never log it.
    public var accessToken: String? { json.value(at: tokenPath("access_token"))?.string }
    public var refreshToken: String? { json.value(at: tokenPath("refresh_token"))?.string }
    public var idToken: String? { json["id_token"]?.string }

    /// When the access token expires, in Unix seconds; nil when the file does not say.
    public var expiry: Double? {
        let text = json.value(at: kind == .gemini ? "token.expiry" : "expired")?.string
        return text.flatMap(RFC3339.parse)
    }

    /// OAuth client id and secret stored in the file (Gemini files carry them).
    public var clientID: String? { json.value(at: tokenPath("client_id"))?.string }
    public var clientSecret: String? { json.value(at: tokenPath("client_secret"))?.string }

    /// Stores a refreshed or new token set. `expiresIn` is seconds from `now`.
    /// A refresh token or id token is replaced only when one was issued.
    public mutating func store(accessToken: String, refreshToken: String?, idToken: String?, expiresIn: Double?, now: Double) {
        json.set(tokenPath("access_token"), .string(accessToken))
        if let r = refreshToken, !r.isEmpty { json.set(tokenPath("refresh_token"), .string(r)) }
        if let i = idToken, !i.isEmpty, kind != .gemini { json.set("id_token", .string(i)) }
        if let e = expiresIn {
            json.set(kind == .gemini ? "token.expiry" : "expired", .string(RFC3339.format(now + e)))
        }
        if kind == .gemini {
            if json.value(at: "token.token_type") == nil { json.set("token.token_type", .string("Bearer")) }
        } else {
            json.set("last_refresh", .string(RFC3339.format(now)))
        }
    }

    // MARK: identity

    public var email: String? { json["email"]?.string }
    /// Gemini: the Code Assist project (comma-joined when several).
    public var projectID: String? { json["project_id"]?.string }
    /// Codex: the ChatGPT account id (from the id token).
    public var accountID: String? { json["account_id"]?.string }
    /// Qwen: the host the account's API lives on.
    public var resourceURL: String? { json["resource_url"]?.string }

    /// A top-level field as text, for `$ctx.account` and header templates.
    public func field(_ name: String) -> JSONValue? { json[name] }

    // MARK: control fields (honoured in any file)

    /// Excluded from selection.
    public var disabled: Bool { json["disabled"]?.bool ?? false }
    /// Namespace: only requests for `<prefix>/<model>` use this account.
    public var prefix: String? { json["prefix"]?.string.flatMap { $0.isEmpty ? nil : $0 } }
    /// Per-account upstream proxy (`direct` or `none`: no proxy).
    public var proxyURL: String? { json["proxy_url"]?.string.flatMap { $0.isEmpty ? nil : $0 } }
    /// Higher values are tried first.
    public var priority: Int { Int(json["priority"]?.number ?? 0) }
    public var label: String? { json["label"]?.string }
    /// Extra upstream headers.
    public var headers: [String: String] {
        (json["headers"]?.object ?? [:]).compactMapValues { $0.string }
    }
    /// Model patterns this account does not serve (`exact`, `prefix-*`, `*-suffix`, `*substr*`).
    public var excludedModels: [String] { (json["excluded_models"]?.array ?? []).compactMap(\.string) }
    public var disableCooling: Bool { json["disable_cooling"]?.bool ?? false }

    /// The bytes written to disk.
    public func serialized() -> [UInt8] { json.pretty() + [0x0A] }
}

extension JSONValue {
    /// Short compact text for messages (never used on secret fields).
    var compactText: String {
        let t = String(decoding: compact(), as: UTF8.self)
        return t.count > 40 ? String(t.prefix(40)) + "…" : t
    }
}
