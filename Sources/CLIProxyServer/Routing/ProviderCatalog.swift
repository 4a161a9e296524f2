import Accounts
import FoundationEssentials

/// One provider as described by `Rules/providers/<id>.json` (see the README
/// there): where the upstream lives, its dialect, how a credential goes on
/// the wire, and which models it serves. Pure data; no dialect knowledge.
public struct ProviderSpec: Sendable, Equatable, Decodable {
    public struct Operation: Sendable, Equatable, Decodable {
        public var method: String?
        public var path: String
    }
    public struct Auth: Sendable, Equatable, Decodable {
        public var header: String?
        public var bearer: Bool?
        public var query: String?
    }

    /// A model name clients may use for another model, with an optional
    /// reasoning override (`gpt-5-minimal` → `gpt-5`, effort minimal).
    public struct ModelAlias: Sendable, Equatable, Decodable {
        public var model: String
        /// JSON object text for `$ctx.reasoning`, or nil.
        public var reasoning: String?

        enum CodingKeys: String, CodingKey { case model, reasoning }
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            model = try c.decode(String.self, forKey: .model)
            reasoning = try c.decodeIfPresent(JSONValue.self, forKey: .reasoning).map { String(decoding: $0.compact(), as: UTF8.self) }
        }
    }

    /// The `account` section: which credential files this provider serves and
    /// what changes for them (Rules/providers/README.md).
    public struct AccountSection: Sendable, Equatable, Decodable {
        public var type: String
        public var fields: [String]
        public var expand: String?
        public var baseURLField: String?
        public var baseURLSuffix: String?
        var auth: Auth?
        var headers: [String: String]?
        var forwardHeaders: [String]?
        var patch: String?
        var baseURL: String?
        var streamOnly: Bool?

        enum CodingKeys: String, CodingKey {
            case type, fields, expand, auth, headers, patch
            case baseURLField = "base_url_field", baseURLSuffix = "base_url_suffix", forwardHeaders = "forward_headers"
            case baseURL = "base_url", streamOnly = "stream_only"
        }
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            type = try c.decode(String.self, forKey: .type)
            fields = try c.decodeIfPresent([String].self, forKey: .fields) ?? []
            expand = try c.decodeIfPresent(String.self, forKey: .expand)
            baseURLField = try c.decodeIfPresent(String.self, forKey: .baseURLField)
            baseURLSuffix = try c.decodeIfPresent(String.self, forKey: .baseURLSuffix)
            auth = try c.decodeIfPresent(Auth.self, forKey: .auth)
            headers = try c.decodeIfPresent([String: String].self, forKey: .headers)
            forwardHeaders = try c.decodeIfPresent([String].self, forKey: .forwardHeaders)
            patch = try c.decodeIfPresent(String.self, forKey: .patch)
            baseURL = try c.decodeIfPresent(String.self, forKey: .baseURL)
            streamOnly = try c.decodeIfPresent(Bool.self, forKey: .streamOnly)
        }
    }

    /// The `relay` section: how a local client's own Code Assist envelope is
    /// re-pointed at a pooled account (`POST /v1internal:*`).
    public struct Relay: Sendable, Equatable, Decodable {
        /// The envelope's model field and project field.
        public var modelKey: String
        public var projectKey: String
        /// The account field holding the project to put there.
        public var projectField: String
        /// The methods load-balanced over accounts; every other method is relayed verbatim.
        public var pooled: [String]

        enum CodingKeys: String, CodingKey {
            case modelKey = "model_key", projectKey = "project_key", projectField = "project_field", pooled
        }
    }

    public var id: String = ""
    public var dialect: String
    public var baseURL: String
    public var auth: Auth
    public var headers: [String: String]
    public var forwardHeaders: [String]
    public var operations: [String: Operation]
    public var models: [String]
    public var modelPrefixes: [String]
    public var modelAliases: [String: ModelAlias]
    /// Models to try on the same account after a 429, in order (switch-preview-model).
    public var previewFallback: [String: [String]]
    /// The upstream answers only in streams; non-stream clients get the stream folded.
    public var streamOnly: Bool
    public var patch: String?
    public var template: Bool
    public var account: AccountSection?
    public var oauth: OAuthSpec?
    public var relay: Relay?

    enum CodingKeys: String, CodingKey {
        case dialect, auth, headers, operations, models, patch, template, account, oauth, relay
        case baseURL = "base_url", forwardHeaders = "forward_headers", modelPrefixes = "model_prefixes"
        case modelAliases = "model_aliases", previewFallback = "preview_fallback", streamOnly = "stream_only"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        dialect = try c.decode(String.self, forKey: .dialect)
        baseURL = try c.decodeIfPresent(String.self, forKey: .baseURL) ?? ""
        auth = try c.decodeIfPresent(Auth.self, forKey: .auth) ?? Auth(header: nil, bearer: nil, query: nil)
        headers = try c.decodeIfPresent([String: String].self, forKey: .headers) ?? [:]
        forwardHeaders = try c.decodeIfPresent([String].self, forKey: .forwardHeaders) ?? []
        operations = try c.decode([String: Operation].self, forKey: .operations)
        models = try c.decodeIfPresent([String].self, forKey: .models) ?? []
        modelPrefixes = try c.decodeIfPresent([String].self, forKey: .modelPrefixes) ?? []
        modelAliases = try c.decodeIfPresent([String: ModelAlias].self, forKey: .modelAliases) ?? [:]
        previewFallback = try c.decodeIfPresent([String: [String]].self, forKey: .previewFallback) ?? [:]
        streamOnly = try c.decodeIfPresent(Bool.self, forKey: .streamOnly) ?? false
        patch = try c.decodeIfPresent(String.self, forKey: .patch)
        template = try c.decodeIfPresent(Bool.self, forKey: .template) ?? false
        account = try c.decodeIfPresent(AccountSection.self, forKey: .account)
        oauth = try c.decodeIfPresent(OAuthSpec.self, forKey: .oauth)
        relay = try c.decodeIfPresent(Relay.self, forKey: .relay)
    }

    public init(id: String, dialect: String, baseURL: String, auth: Auth, headers: [String: String] = [:], forwardHeaders: [String] = [],
                operations: [String: Operation], models: [String] = [], modelPrefixes: [String] = [], patch: String? = nil) {
        self.id = id; self.dialect = dialect; self.baseURL = baseURL; self.auth = auth; self.headers = headers
        self.forwardHeaders = forwardHeaders; self.operations = operations; self.models = models
        self.modelPrefixes = modelPrefixes; self.patch = patch; self.template = false
        self.modelAliases = [:]; self.previewFallback = [:]; self.streamOnly = false
    }

    /// The spec as it applies to signed-in accounts: the `account` section's
    /// fields laid over the top-level ones.
    public func forAccounts() -> ProviderSpec {
        guard let a = account else { return self }
        var s = self
        if let v = a.auth { s.auth = v }
        if let v = a.headers { s.headers = headers.merging(v) { _, new in new } }
        if let v = a.forwardHeaders { s.forwardHeaders = v }
        if let v = a.patch { s.patch = v }
        if let v = a.baseURL { s.baseURL = v }
        if let v = a.streamOnly { s.streamOnly = v }
        return s
    }

    /// The operation for a call (`stream` falls back to `generate`).
    public func operation(_ name: String) -> Operation? {
        operations[name] ?? (name == "stream" ? operations["generate"] : nil)
    }

    /// Does this provider route `model` (listed, or by prefix)?
    public func serves(_ model: String) -> Bool {
        models.contains(model) || modelPrefixes.contains { model.hasPrefix($0) }
    }

    /// The upstream model and reasoning override for a client's model name:
    /// an alias resolves to its target; a served name to itself.
    public func resolve(_ model: String) -> (model: String, reasoning: String?)? {
        if let a = modelAliases[model] { return (a.model, a.reasoning) }
        return serves(model) ? (model, nil) : nil
    }
}


/// Every provider of a rules folder, by id (the file name).
public struct ProviderCatalog: Sendable {
    public var providers: [String: ProviderSpec]

    public init(providers: [String: ProviderSpec]) { self.providers = providers }

    /// Reads `<rules>/providers/*.json`. A file that does not decode is an
    /// error naming the file (the reload keeps the previous catalog).
    public static func load(rulesRoot: String, files: [String: String]) throws -> ProviderCatalog {
        var out: [String: ProviderSpec] = [:]
        let decoder = JSONDecoder()
        for (rel, text) in files where rel.hasPrefix("providers/") && rel.hasSuffix(".json") {
            let id = String(rel.dropFirst("providers/".count).dropLast(".json".count))
            do {
                var spec = try decoder.decode(ProviderSpec.self, from: Data(text.utf8))
                spec.id = id
                out[id] = spec
            } catch {
                throw ProviderCatalogError(file: "\(rulesRoot)/\(rel)", message: "\(error)")
            }
        }
        return ProviderCatalog(providers: out)
    }
}

public struct ProviderCatalogError: Error, CustomStringConvertible {
    public var file: String
    public var message: String
    public var description: String { "\(file): \(message)" }
}
