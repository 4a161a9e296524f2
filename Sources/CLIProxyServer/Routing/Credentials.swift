import ProxyConfig
import Synchronization

/// One way to reach one upstream: a provider, a key and a base URL.
///
/// `id` is stable across reloads (provider, position and a fingerprint of
/// the key — never the key), so cooldowns survive a config change that does
/// not touch the key.
public struct Credential: Sendable, Hashable {
    public var id: String
    public var provider: ProviderSpec
    public var secret: Secret
    public var baseURL: String
    /// Models this credential serves beyond its provider's list, client name →
    /// upstream name (`openai-compatibility` `models[].alias` → `name`).
    public var aliases: [String: String]
    /// For logs: provider and masked key.
    public var label: String { "\(provider.id) \(secret.masked.isEmpty ? "(no key)" : secret.masked)" }

    public static func == (a: Credential, b: Credential) -> Bool { a.id == b.id }
    public func hash(into h: inout Hasher) { h.combine(id) }

    /// The upstream model id for a client's model name, or nil when this
    /// credential does not serve it.
    public func upstreamModel(for model: String) -> String? {
        if let m = aliases[model] { return m }
        if provider.template { return nil }  // an openai-compatibility entry serves exactly its list
        return provider.serves(model) ? model : nil
    }

    /// Builds every credential the config supplies (see Rules/providers/README.md).
    public static func all(config: ProxyConfig, catalog: ProviderCatalog) -> [Credential] {
        var out: [Credential] = []
        func base(_ id: String, _ spec: ProviderSpec, _ perKey: String? = nil) -> String {
            let b = config.upstreams[id]?.baseURL ?? perKey ?? spec.baseURL
            return b.hasSuffix("/") ? String(b.dropLast()) : b
        }
        if let gemini = catalog.providers["gemini"] {
            for (i, key) in config.generativeLanguageAPIKeys.enumerated() {
                out.append(Credential(id: "gemini#\(i):\(fingerprint(key.revealed))", provider: gemini, secret: key,
                                      baseURL: base("gemini", gemini), aliases: [:]))
            }
        }
        if let claude = catalog.providers["claude"] {
            for (i, key) in config.claudeAPIKeys.enumerated() {
                out.append(Credential(id: "claude#\(i):\(fingerprint(key.apiKey.revealed))", provider: claude, secret: key.apiKey,
                                      baseURL: base("claude", claude, key.baseURL), aliases: [:]))
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
                    out.append(Credential(id: "\(entry.name)#\(i):\(fingerprint(key.revealed))", provider: spec, secret: key,
                                          baseURL: base(entry.name, spec, entry.baseURL), aliases: aliases))
                }
            }
        }
        return out
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
