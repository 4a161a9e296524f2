import Accounts
import ProxyConfig
import Synchronization

/// One way to reach one upstream: a provider, a key or a signed-in account,
/// and a base URL.
///
/// `id` is stable across reloads (provider, position and a fingerprint of
/// the key — never the key — or the account's file name), so cooldowns
/// survive a config change that does not touch the credential.
public struct Credential: Sendable, Hashable {
    /// Where the secret comes from.
    public enum Source: Sendable, Hashable {
        /// An API key from the config.
        case key(Secret)
        /// A signed-in account: its credential file's name in `auth-dir`;
        /// the access token is fetched (and refreshed) per call.
        case account(String)
    }

    public var id: String
    public var provider: ProviderSpec
    public var source: Source
    public var baseURL: String
    /// Models this credential serves beyond its provider's list, client name →
    /// upstream name (`openai-compatibility` `models[].alias` → `name`).
    public var aliases: [String: String] = [:]
    /// An account's fields the provider's patch may read (`$ctx.account`).
    public var accountFields: [String: String] = [:]
    /// Extra upstream headers from the account file.
    public var extraHeaders: [String: String] = [:]
    /// Model patterns this credential does not serve.
    public var excludedModels: [String] = []
    /// A per-credential upstream proxy (`direct`/`none`: no proxy).
    public var proxyURL: String? = nil
    /// Higher is tried first.
    public var priority: Int = 0

    /// For logs: provider and masked key, or the account's file.
    public var label: String {
        switch source {
        case .key(let s): return "\(provider.id) \(s.masked.isEmpty ? "(no key)" : s.masked)"
        case .account(let file): return "\(provider.id) account \(file)" + (id.contains("#") ? " (\(id[id.index(after: id.lastIndex(of: "#")!)...]))" : "")
        }
    }

    /// The account file name, for account credentials.
    public var accountFile: String? { if case .account(let f) = source { return f }; return nil }

    public static func == (a: Credential, b: Credential) -> Bool { a.id == b.id }
    public func hash(into h: inout Hasher) { h.combine(id) }

    /// The upstream model id (and any reasoning override) for a client's
    /// model name, or nil when this credential does not serve it.
    public func resolve(_ model: String) -> (model: String, reasoning: String?)? {
        if excludedModels.contains(where: { Self.matches(pattern: $0, model) }) { return nil }
        if let m = aliases[model] { return (m, nil) }
        if provider.template { return nil }  // an openai-compatibility entry serves exactly its list
        return provider.resolve(model)
    }

    /// `exact`, `prefix-*`, `*-suffix` and `*substring*` patterns.
    static func matches(pattern p: String, _ model: String) -> Bool {
        let star1 = p.hasPrefix("*"), star2 = p.hasSuffix("*") && p.count > 1
        let core = String(p.dropFirst(star1 ? 1 : 0).dropLast(star2 ? 1 : 0))
        switch (star1, star2) {
        case (true, true): return model.contains(core)
        case (true, false): return model.hasSuffix(core)
        case (false, true): return model.hasPrefix(core)
        case (false, false): return model == p
        }
    }

    /// Builds every credential the config and the signed-in accounts supply
    /// (see Rules/providers/README.md).
    public static func all(config: ProxyConfig, catalog: ProviderCatalog, accounts: [Account] = []) -> [Credential] {
        var out: [Credential] = []
        func base(_ id: String, _ spec: ProviderSpec, _ perKey: String? = nil) -> String {
            let b = config.upstreams[id]?.baseURL ?? perKey ?? spec.baseURL
            return b.hasSuffix("/") ? String(b.dropLast()) : b
        }
        if let gemini = catalog.providers["gemini"] {
            for (i, key) in config.generativeLanguageAPIKeys.enumerated() {
                out.append(Credential(id: "gemini#\(i):\(fingerprint(key.revealed))", provider: gemini, source: .key(key),
                                      baseURL: base("gemini", gemini)))
            }
        }
        if let claude = catalog.providers["claude"] {
            for (i, key) in config.claudeAPIKeys.enumerated() {
                out.append(Credential(id: "claude#\(i):\(fingerprint(key.apiKey.revealed))", provider: claude, source: .key(key.apiKey),
                                      baseURL: base("claude", claude, key.baseURL)))
            }
        }
        if let template = catalog.providers["openai-compatible"] {
            for entry in config.openAICompatibility {
                var spec = template
                spec.id = entry.name
                spec.template = true
                var aliases: [String: String] = [:]
                for m in entry.models { aliases[m.exposedName] = m.name }
                spec.models = entry.models.map(\.exposedName)
                let keys = entry.apiKeys.isEmpty ? [Secret("")] : entry.apiKeys
                for (i, key) in keys.enumerated() {
                    out.append(Credential(id: "\(entry.name)#\(i):\(fingerprint(key.revealed))", provider: spec, source: .key(key),
                                          baseURL: base(entry.name, spec, entry.baseURL), aliases: aliases))
                }
            }
        }
        // Signed-in accounts: each file serves the provider whose `account.type`
        // is the file's type; a comma-separated `expand` field (Gemini projects)
        // makes one credential per value.
        let byType = Dictionary(catalog.providers.values.compactMap { p in p.account.map { ($0.type, p) } }, uniquingKeysWith: { a, b in a.id < b.id ? a : b })
        for account in accounts where !account.file.disabled {
            guard let provider = byType[account.file.kind.rawValue], let section = provider.account else { continue }
            let spec = provider.forAccounts()
            var fields: [String: String] = [:]
            for f in section.fields {
                switch account.file.field(f) {
                case .string(let v)?: fields[f] = v
                case .number(let n)?: fields[f] = n.rounded() == n ? String(Int64(n)) : String(n)
                case .bool(let b)?: fields[f] = b ? "true" : "false"
                default: break
                }
            }
            var accountBase = spec.baseURL
            if let field = section.baseURLField, let host = account.file.field(field)?.string, !host.isEmpty {
                accountBase = normalizeBaseURL(host, suffix: section.baseURLSuffix ?? "")
            }
            let values: [String?] = section.expand.flatMap { f in
                fields[f].map { $0.split(separator: ",").map { String($0).trimmingSpaces }.filter { !$0.isEmpty } }
            }.flatMap { $0.isEmpty ? nil : $0 } ?? [nil]
            for value in values {
                var f = fields
                if let value, let key = section.expand { f[key] = value }
                out.append(Credential(id: "\(spec.id)@\(account.id)" + (value.map { "#\($0)" } ?? "") + (values.count > 1 ? "" : ""),
                                      provider: spec, source: .account(account.id), baseURL: base(spec.id, spec, accountBase),
                                      accountFields: f, extraHeaders: account.file.headers, excludedModels: account.file.excludedModels,
                                      proxyURL: account.file.proxyURL, priority: account.file.priority))
            }
        }
        return out
    }

    /// An account's API host as a base URL: `https://` when it names no
    /// scheme, no trailing `/`, and `suffix` appended unless already there.
    static func normalizeBaseURL(_ host: String, suffix: String) -> String {
        var b = host.contains("://") ? host : "https://" + host
        while b.hasSuffix("/") { b.removeLast() }
        if !suffix.isEmpty && !b.hasSuffix(suffix) { b += suffix }
        return b
    }

    /// A short, non-reversible fingerprint of a secret, for ids and logs.
    static func fingerprint(_ s: String) -> String {
        var h: UInt64 = 0xcbf29ce484222325
        for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x100000001b3 }
        return String(h & 0xFFFFFF, radix: 16)
    }
}

/// Cooldowns and round-robin cursors: the routing state that outlives
/// reloads (a new config keeps what it knew about the same credentials).
public final class CredentialHealth: Sendable {
    struct Key: Hashable { var credential: String; var model: String }
    struct Cooling { var until: UInt64; var level: Int; var reason: String }

    private let cooling = Mutex<[Key: Cooling]>([:])
    private let cursors = Mutex<[String: Int]>([:])

    public init() {}

    /// Nanoseconds (monotonic) until `credential` may serve `model` again; 0 when it may now.
    public func remaining(_ credential: Credential, model: String, now: UInt64) -> UInt64 {
        cooling.withLock { table in
            guard let c = table[Key(credential: credential.id, model: model)] else { return 0 }
            return c.until > now ? c.until - now : 0
        }
    }

    /// Cools `credential` for `model`: for `seconds` when the upstream said how
    /// long, else 1 s × 2^level, doubling on each consecutive failure, capped at
    /// 30 minutes (the exponential backoff of the existing product).
    public func cool(_ credential: Credential, model: String, seconds: Double?, reason: String, now: UInt64) -> Double {
        cooling.withLock { table in
            let key = Key(credential: credential.id, model: model)
            let level = (table[key]?.level ?? -1) + 1
            let wait = min(seconds ?? Double(1 << min(level, 11)), 1800)
            table[key] = Cooling(until: now + UInt64(max(wait, 0) * 1e9), level: level, reason: reason)
            return wait
        }
    }

    /// A success clears what was known against the pair.
    public func succeeded(_ credential: Credential, model: String) {
        cooling.withLock { table in _ = table.removeValue(forKey: Key(credential: credential.id, model: model)) }
    }

    /// Clears every cooldown (of one credential id when given).
    public func reset(credential: String? = nil) {
        cooling.withLock { table in
            if let credential { table = table.filter { $0.key.credential != credential } } else { table.removeAll() }
        }
    }

    /// The next round-robin position for a model.
    func nextCursor(for model: String) -> Int {
        cursors.withLock { c in
            let n = c[model, default: 0]
            c[model] = n &+ 1
            return n
        }
    }

    /// Every cooling pair, for the management API and logs.
    public func snapshot(now: UInt64) -> [(credential: String, model: String, secondsLeft: Double, reason: String)] {
        cooling.withLock { table in
            table.compactMap { k, v in v.until > now ? (k.credential, k.model, Double(v.until - now) / 1e9, v.reason) : nil }
        }
    }
}
