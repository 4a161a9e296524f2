// The typed configuration (config.yaml).
//
// The keys of the proxy cliproxy replaces keep their names, meaning and defaults,
// so an existing config.yaml works unchanged; our own additions are marked below.
// Parsing and validation live in ConfigDecoder.swift.

/// Every setting of config.yaml, with defaults for what the file leaves out.
///
/// A key that is absent, or present with a null value (`key:`, `key: ~`, `key: null`),
/// takes its default. Print it (``description``) to see the effective configuration with
/// every secret masked.
public struct ProxyConfig: Sendable, Equatable {
    // MARK: Keys of the existing product

    /// `port` — the port the server listens on (1…65535). Default 8317.
    public var port: Int = 8317

    /// `auth-dir` as written — where account credential files live. Default `~/.cli-proxy-api`.
    public var authDir: String = ProxyConfig.defaultAuthDir
    /// `auth-dir` with a leading `~` replaced by the home directory ($HOME). Use this one to open files.
    public var authDirPath: String

    /// `proxy-url` — proxy for upstream traffic (`socks5://`, `socks5h://`, `socks4://`,
    /// `socks4a://`, `http://`, `https://`, optional `user:pass@`); "" for none. Default "".
    public var proxyURL: String = ""

    /// `request-retry` — how many times to retry a request on 403, 408, 500, 502, 503 or 504 (≥ 0). Default 0.
    public var requestRetry: Int = 0

    /// `remote-management` — the management API.
    public var remoteManagement = RemoteManagement()

    /// `quota-exceeded` — what to do when an account runs out of quota.
    public var quotaExceeded = QuotaExceeded()

    /// `debug` — verbose logging. Default false.
    public var debug: Bool = false

    /// `api-keys` — keys clients must present (`Authorization: Bearer …`). Default none.
    public var apiKeys: [Secret] = []

    /// `generative-language-api-key` — Gemini (Generative Language API) keys. Default none.
    public var generativeLanguageAPIKeys: [Secret] = []

    /// `claude-api-key` — Claude API keys, each with an optional endpoint. Default none.
    public var claudeAPIKeys: [ClaudeAPIKey] = []

    /// `openai-compatibility` — OpenAI-compatible upstream providers. Default none.
    public var openAICompatibility: [OpenAICompatibleProvider] = []

    // MARK: Our additions

    /// `host` (cliproxy addition) — the address to listen on. When not set (nil), the server
    /// listens on 127.0.0.1 if `api-keys` is empty (an open proxy stays local) and on 0.0.0.0
    /// otherwise; see ``effectiveHost``.
    public var host: String? = nil

    /// `request-log` (cliproxy addition) — log every request and response body. Default false.
    public var requestLog: Bool = false

    /// `usage-statistics-enabled` — count requests and tokens per key and model for the
    /// management API. Default false.
    public var usageStatisticsEnabled: Bool = false

    /// `usage-statistics-path` (cliproxy addition) — the SQLite file the statistics are kept
    /// in, so they survive restarts (`~` expanded). Default nil: `usage.db` in `auth-dir`.
    public var usageStatisticsPath: String? = nil

    /// `usage-statistics-retention-days` (cliproxy addition) — rows older than this are
    /// deleted; 0 keeps everything. Default 30.
    public var usageStatisticsRetentionDays: Int = 30

    /// Where the usage database lives (`usage-statistics-path`, else `<auth-dir>/usage.db`).
    public var usageDatabasePath: String {
        usageStatisticsPath ?? authDirPath + "/usage.db"
    }

    /// `rules-dir` (cliproxy addition) as written — a directory of jq rules to use instead of
    /// the built-in `Rules/`. Default nil (built-in rules).
    public var rulesDir: String? = nil
    /// `rules-dir` with a leading `~` expanded, nil when not set.
    public var rulesDirPath: String? = nil

    /// `max-body-size` (cliproxy addition) — the largest request body accepted, in bytes.
    /// An integer, or a string with a unit: `"512KB"`, `"32MB"`, `"1GB"` (units are powers of
    /// 1024; `B`, `K`/`KB`/`KiB`, `M`/`MB`/`MiB`, `G`/`GB`/`GiB`, any case). Default 33554432 (32 MB).
    public var maxBodySize: Int = 32 * 1024 * 1024

    /// `connect-timeout` (cliproxy addition) — how long to wait for an upstream connection.
    /// A number of seconds (`10`, `2.5`) or a string with a unit (`"500ms"`, `"10s"`, `"1m"`). Default 10 s.
    public var connectTimeout: Duration = .seconds(10)

    /// `stream-idle-timeout` (cliproxy addition) — how long a streaming upstream response may
    /// send nothing before it is abandoned. Same forms as `connect-timeout`. Default 120 s.
    public var streamIdleTimeout: Duration = .seconds(120)

    /// `shutdown-grace-period` (cliproxy addition) — on SIGTERM or SIGINT the server stops
    /// accepting and lets requests in flight (streams included) finish for up to this long,
    /// then exits. Default 30 s.
    public var shutdownGracePeriod: Duration = .seconds(30)

    /// `upstreams` (cliproxy addition) — per-provider endpoint overrides, keyed by provider id
    /// (e.g. `gemini`, `claude`, `codex`, `qwen`): `base-url`, `auth-url`, `token-url`,
    /// `device-url`, each optional. Default none (the built-in endpoints).
    public var upstreams: [String: UpstreamEndpoints] = [:]

    // MARK: Derived

    /// The address to listen on: ``host`` when set, else 127.0.0.1 without `api-keys`, 0.0.0.0 with.
    public var effectiveHost: String { host ?? (apiKeys.isEmpty ? "127.0.0.1" : "0.0.0.0") }

    public static let defaultAuthDir = "~/.cli-proxy-api"

    /// All defaults, `~` expanded with `home` (default: $HOME, else the password database).
    public init(home: String? = nil) {
        authDirPath = ProxyConfig.expandTilde(ProxyConfig.defaultAuthDir, home: home ?? ProxyConfig.homeDirectory())
    }
}

// MARK: - Nested settings

extension ProxyConfig {
    /// `remote-management`.
    public struct RemoteManagement: Sendable, Equatable {
        /// `allow-remote` — accept management requests from other hosts than localhost. Default false.
        public var allowRemote: Bool = false
        /// `secret-key` — the management key (plaintext or a bcrypt hash); empty disables the
        /// management API (404). Default "".
        public var secretKey: Secret = ""

        public init(allowRemote: Bool = false, secretKey: Secret = "") {
            self.allowRemote = allowRemote
            self.secretKey = secretKey
        }

        /// True when `secret-key` holds a bcrypt hash (`$2a$`, `$2b$`, `$2y$`) rather than plaintext.
        public var secretKeyIsHashed: Bool {
            let k = secretKey.revealed
            return k.hasPrefix("$2a$") || k.hasPrefix("$2b$") || k.hasPrefix("$2y$")
        }
    }

    /// `quota-exceeded`.
    public struct QuotaExceeded: Sendable, Equatable {
        /// `switch-project` — switch to another project when a quota is exceeded. Default true.
        public var switchProject: Bool = true
        /// `switch-preview-model` — switch to a preview model when a quota is exceeded. Default true.
        public var switchPreviewModel: Bool = true

        public init(switchProject: Bool = true, switchPreviewModel: Bool = true) {
            self.switchProject = switchProject
            self.switchPreviewModel = switchPreviewModel
        }
    }

    /// One entry of `claude-api-key`.
    public struct ClaudeAPIKey: Sendable, Equatable, CustomStringConvertible {
        /// `api-key` — required, non-empty.
        public var apiKey: Secret
        /// `base-url` — a custom endpoint (http or https); nil for the official API.
        public var baseURL: String?

        public init(apiKey: Secret, baseURL: String? = nil) {
            self.apiKey = apiKey
            self.baseURL = baseURL
        }

        public var description: String {
            "ClaudeAPIKey(api-key: \(apiKey.masked)" + (baseURL.map { ", base-url: \(Secret.maskURL($0))" } ?? "") + ")"
        }
    }

    /// One entry of `openai-compatibility`.
    public struct OpenAICompatibleProvider: Sendable, Equatable, CustomStringConvertible {
        /// `name` — required; used in the user agent and to tell providers apart.
        public var name: String
        /// `base-url` — required, http or https (e.g. `https://openrouter.ai/api/v1`).
        public var baseURL: String
        /// `api-keys` — optional; none when the provider allows unauthenticated access.
        public var apiKeys: [Secret]
        /// `models` — upstream model names and the aliases clients use.
        public var models: [Model]

        public init(name: String, baseURL: String, apiKeys: [Secret] = [], models: [Model] = []) {
            self.name = name
            self.baseURL = baseURL
            self.apiKeys = apiKeys
            self.models = models
        }

        /// One entry of `models`.
        public struct Model: Sendable, Equatable {
            /// `name` — the upstream model name (required).
            public var name: String
            /// `alias` — the name clients use; nil when not set (clients use `name`).
            public var alias: String?

            public init(name: String, alias: String? = nil) {
                self.name = name
                self.alias = alias
            }

            /// The name clients ask for: ``alias`` when set, else ``name``.
            public var exposedName: String { alias ?? name }
        }

        public var description: String {
            "OpenAICompatibleProvider(name: \(name), base-url: \(Secret.maskURL(baseURL)), api-keys: \(apiKeys.map(\.masked)), models: \(models.map { m in m.alias.map { "\(m.name) as \($0)" } ?? m.name }))"
        }
    }

    /// One entry of `upstreams`: endpoints replacing a provider's built-in ones.
    public struct UpstreamEndpoints: Sendable, Equatable {
        /// `base-url` — the API endpoint.
        public var baseURL: String?
        /// `auth-url` — the OAuth authorisation endpoint.
        public var authURL: String?
        /// `token-url` — the OAuth token endpoint.
        public var tokenURL: String?
        /// `device-url` — the OAuth device-code endpoint.
        public var deviceURL: String?

        public init(baseURL: String? = nil, authURL: String? = nil, tokenURL: String? = nil, deviceURL: String? = nil) {
            self.baseURL = baseURL
            self.authURL = authURL
            self.tokenURL = tokenURL
            self.deviceURL = deviceURL
        }
    }
}

// MARK: - Printing (secrets masked)

extension ProxyConfig: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The effective configuration as YAML, defaults included, with every secret masked
    /// (`api-keys`, `generative-language-api-key`, `claude-api-key[].api-key`,
    /// `openai-compatibility[].api-keys`, `remote-management.secret-key`, and the password
    /// of any URL's user-info, `proxy-url` included).
    public var description: String {
        let q = YAMLDocument.quoted
        func url(_ s: String) -> String { q(Secret.maskURL(s)) }
        func secrets(_ list: [Secret], indent: String) -> String {
            list.isEmpty ? " []\n" : "\n" + list.map { "\(indent)- \(q($0.masked))\n" }.joined()
        }
        var s = ""
        s += "port: \(port)\n"
        if let host {
            s += "host: \(q(host))\n"
        } else {
            s += "host: \(q(effectiveHost)) # not set: \(apiKeys.isEmpty ? "no api-keys, local only" : "api-keys set, all interfaces")\n"
        }
        s += "auth-dir: \(q(authDir))" + (authDirPath != authDir ? " # \(authDirPath)" : "") + "\n"
        s += "proxy-url: \(url(proxyURL))\n"
        s += "request-retry: \(requestRetry)\n"
        s += "remote-management:\n"
        s += "  allow-remote: \(remoteManagement.allowRemote)\n"
        s += "  secret-key: \(q(remoteManagement.secretKey.masked))\n"
        s += "quota-exceeded:\n"
        s += "  switch-project: \(quotaExceeded.switchProject)\n"
        s += "  switch-preview-model: \(quotaExceeded.switchPreviewModel)\n"
        s += "debug: \(debug)\n"
        s += "api-keys:" + secrets(apiKeys, indent: "  ")
        s += "generative-language-api-key:" + secrets(generativeLanguageAPIKeys, indent: "  ")
        s += "claude-api-key:" + (claudeAPIKeys.isEmpty ? " []\n" : "\n")
        for k in claudeAPIKeys {
            s += "  - api-key: \(q(k.apiKey.masked))\n"
            if let b = k.baseURL { s += "    base-url: \(url(b))\n" }
        }
        s += "openai-compatibility:" + (openAICompatibility.isEmpty ? " []\n" : "\n")
        for p in openAICompatibility {
            s += "  - name: \(q(p.name))\n"
            s += "    base-url: \(url(p.baseURL))\n"
            s += "    api-keys:" + secrets(p.apiKeys, indent: "      ")
            s += "    models:" + (p.models.isEmpty ? " []\n" : "\n")
            for m in p.models {
                s += "      - name: \(q(m.name))\n"
                if let a = m.alias { s += "        alias: \(q(a))\n" }
            }
        }
        s += "request-log: \(requestLog)\n"
        s += "usage-statistics-enabled: \(usageStatisticsEnabled)\n"
        s += "usage-statistics-path: \(q(usageDatabasePath))\n"
        s += "usage-statistics-retention-days: \(usageStatisticsRetentionDays)\n"
        if let rulesDir {
            s += "rules-dir: \(q(rulesDir))" + (rulesDirPath != rulesDir ? " # \(rulesDirPath ?? "")" : "") + "\n"
        } else {
            s += "rules-dir: null # built-in rules\n"
        }
        s += "max-body-size: \(maxBodySize)\n"
        s += "connect-timeout: \(ProxyConfig.seconds(connectTimeout))\n"
        s += "stream-idle-timeout: \(ProxyConfig.seconds(streamIdleTimeout))\n"
        s += "shutdown-grace-period: \(ProxyConfig.seconds(shutdownGracePeriod))\n"
        s += "upstreams:" + (upstreams.isEmpty ? " {}\n" : "\n")
        for id in upstreams.keys.sorted() {
            let u = upstreams[id]!
            s += "  \(q(id)):" + ([u.baseURL, u.authURL, u.tokenURL, u.deviceURL].allSatisfy { $0 == nil } ? " {}\n" : "\n")
            if let v = u.baseURL { s += "    base-url: \(url(v))\n" }
            if let v = u.authURL { s += "    auth-url: \(url(v))\n" }
            if let v = u.tokenURL { s += "    token-url: \(url(v))\n" }
            if let v = u.deviceURL { s += "    device-url: \(url(v))\n" }
        }
        return s
    }

    public var debugDescription: String { description }

    /// `dump(config)` shows the masked YAML, never the secrets.
    public var customMirror: Mirror { Mirror(self, children: ["effective": description], displayStyle: .struct) }

    /// `10`, `2.5` — a duration in seconds as YAML accepts it back.
    static func seconds(_ d: Duration) -> String {
        let (s, atto) = d.components
        if atto == 0 { return "\(s)" }
        let ms = s * 1000 + atto / 1_000_000_000_000_000
        if ms % 1000 == 0 { return "\(ms / 1000)" }
        return "\(Double(ms) / 1000)"
    }
}
