import RuleEngine

/// An upstream that can serve a request: a credential and the model id to
/// send it.
public struct Candidate: Sendable {
    public var credential: Credential
    public var upstreamModel: String
    /// A reasoning override from a model alias (JSON object text), for `$ctx.reasoning`.
    public var reasoning: String? = nil
}

/// Model name → candidates, in round-robin order per model.
public struct ModelRouter: Sendable {
    public let credentials: [Credential]
    public let catalog: ProviderCatalog
    let health: CredentialHealth

    public init(credentials: [Credential], catalog: ProviderCatalog, health: CredentialHealth) {
        self.credentials = credentials
        self.catalog = catalog
        self.health = health
    }

    /// A `models/` prefix (Gemini paths, pitfall 65) is not part of the name.
    public static func normalize(_ model: String) -> String {
        model.hasPrefix("models/") ? String(model.dropFirst(7)) : model
    }

    /// Every credential that serves `model`, rotated so that successive
    /// requests for the same model start at successive credentials.
    /// Credentials with a higher `priority` come first; round-robin applies
    /// within each priority.
    public func candidates(for model: String) -> [Candidate] {
        let all = credentials.compactMap { c in
            c.resolve(model).map { Candidate(credential: c, upstreamModel: $0.model, reasoning: $0.reasoning) }
        }
        guard all.count > 1 else { return all }
        let start = health.nextCursor(for: model) % all.count
        let rotated = Array(all[start...] + all[..<start])
        guard rotated.contains(where: { $0.credential.priority != rotated[0].credential.priority }) else { return rotated }
        return rotated.enumerated().sorted { a, b in
            a.element.credential.priority != b.element.credential.priority
                ? a.element.credential.priority > b.element.credential.priority : a.offset < b.offset
        }.map(\.element)
    }

    /// Is `model` one some provider serves, even without a credential?
    public func isKnown(_ model: String) -> Bool {
        catalog.providers.values.contains { !$0.template && $0.resolve(model) != nil }
    }

    /// The models clients can use: those of providers with a credential.
    public func servedModels() -> [(id: String, ownedBy: String)] {
        var seen = Set<String>()
        var out: [(String, String)] = []
        for c in credentials {
            for m in c.provider.models + c.provider.modelAliases.keys.sorted() where !seen.contains(m) && c.resolve(m) != nil {
                seen.insert(m)
                out.append((m, c.provider.id))
            }
        }
        return out.sorted { $0.0 < $1.0 }
    }

    /// Known model names close to `model` (same prefix or containing it), for
    /// "unknown model" errors.
    public func suggestions(for model: String, limit: Int = 5) -> [String] {
        let served = servedModels().map(\.id)
        let stem = String(model.prefix(while: { $0 != "-" }))
        let close = served.filter { $0.hasPrefix(stem) || $0.contains(model) || model.contains($0) }
        return Array((close.isEmpty ? served : close).prefix(limit))
    }
}
