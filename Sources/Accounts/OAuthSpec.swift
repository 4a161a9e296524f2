import FoundationEssentials

/// How one provider signs accounts in and refreshes their tokens: the
/// `oauth` section of `Rules/providers/<id>.json`. Data, so that a gateway
/// user (or a test) points logins and refreshes elsewhere without a rebuild;
/// config `upstreams.<id>.auth-url`, `token-url` and `device-url` override
/// the URLs here (see ``overriding(authURL:tokenURL:deviceURL:)``).
public struct OAuthSpec: Sendable, Equatable, Decodable {
    /// Where the browser is sent (authorization-code flows).
    public var authorizeURL: String?
    /// Where codes and refresh tokens are exchanged.
    public var tokenURL: String
    /// Device-code endpoint (device flows).
    public var deviceURL: String?
    public var clientID: String
    /// A public installed-app secret, when the provider has one (Google).
    public var clientSecret: String?
    public var scopes: [String]
    /// The loopback callback: default port and path (`/oauth2callback`).
    public var callbackPort: Int?
    public var callbackPath: String?
    /// Extra query parameters of the authorize URL.
    public var authorizeParams: [String: String]
    /// Whether the flow sends an S256 PKCE challenge.
    public var pkce: Bool
    /// How token requests are encoded: `form` (application/x-www-form-urlencoded) or `json`.
    public var tokenEncoding: String
    /// Extra fields of a refresh request (Codex sends `scope`).
    public var refreshParams: [String: String]
    /// Refresh this many seconds before the token expires.
    public var refreshLeadSeconds: Double
    /// Provider-specific URLs used after the token exchange (Gemini: `userinfo`,
    /// `projects`, `service_usage`); keyed by name.
    public var urls: [String: String]

    enum CodingKeys: String, CodingKey {
        case authorizeURL = "authorize_url", tokenURL = "token_url", deviceURL = "device_url"
        case clientID = "client_id", clientSecret = "client_secret", scopes
        case callbackPort = "callback_port", callbackPath = "callback_path"
        case authorizeParams = "authorize_params", pkce, tokenEncoding = "token_encoding"
        case refreshParams = "refresh_params", refreshLeadSeconds = "refresh_lead_seconds", urls
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        authorizeURL = try c.decodeIfPresent(String.self, forKey: .authorizeURL)
        tokenURL = try c.decode(String.self, forKey: .tokenURL)
        deviceURL = try c.decodeIfPresent(String.self, forKey: .deviceURL)
        clientID = try c.decode(String.self, forKey: .clientID)
        clientSecret = try c.decodeIfPresent(String.self, forKey: .clientSecret)
        scopes = try c.decodeIfPresent([String].self, forKey: .scopes) ?? []
        callbackPort = try c.decodeIfPresent(Int.self, forKey: .callbackPort)
        callbackPath = try c.decodeIfPresent(String.self, forKey: .callbackPath)
        authorizeParams = try c.decodeIfPresent([String: String].self, forKey: .authorizeParams) ?? [:]
        pkce = try c.decodeIfPresent(Bool.self, forKey: .pkce) ?? false
        tokenEncoding = try c.decodeIfPresent(String.self, forKey: .tokenEncoding) ?? "form"
        refreshParams = try c.decodeIfPresent([String: String].self, forKey: .refreshParams) ?? [:]
        refreshLeadSeconds = try c.decodeIfPresent(Double.self, forKey: .refreshLeadSeconds) ?? 300
        urls = try c.decodeIfPresent([String: String].self, forKey: .urls) ?? [:]
    }

    public init(authorizeURL: String? = nil, tokenURL: String, deviceURL: String? = nil, clientID: String, clientSecret: String? = nil,
                scopes: [String] = [], callbackPort: Int? = nil, callbackPath: String? = nil, authorizeParams: [String: String] = [:],
                pkce: Bool = false, tokenEncoding: String = "form", refreshParams: [String: String] = [:],
                refreshLeadSeconds: Double = 300, urls: [String: String] = [:]) {
        self.authorizeURL = authorizeURL; self.tokenURL = tokenURL; self.deviceURL = deviceURL
        self.clientID = clientID; self.clientSecret = clientSecret; self.scopes = scopes
        self.callbackPort = callbackPort; self.callbackPath = callbackPath; self.authorizeParams = authorizeParams
        self.pkce = pkce; self.tokenEncoding = tokenEncoding; self.refreshParams = refreshParams
        self.refreshLeadSeconds = refreshLeadSeconds; self.urls = urls
    }

    /// The same spec with the config's endpoint overrides applied.
    public func overriding(authURL: String?, tokenURL: String?, deviceURL: String?) -> OAuthSpec {
        var s = self
        if let authURL { s.authorizeURL = authURL }
        if let tokenURL { s.tokenURL = tokenURL }
        if let deviceURL { s.deviceURL = deviceURL }
        return s
    }
}
