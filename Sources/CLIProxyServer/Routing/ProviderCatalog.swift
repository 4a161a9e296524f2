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

    public var id: String = ""
    public var dialect: String
    public var baseURL: String
    public var auth: Auth
    public var headers: [String: String]
    public var forwardHeaders: [String]
    public var operations: [String: Operation]
    public var models: [String]
    public var modelPrefixes: [String]
    public var patch: String?
    public var template: Bool

    enum CodingKeys: String, CodingKey {
        case dialect, auth, headers, operations, models, patch, template
        case baseURL = "base_url", forwardHeaders = "forward_headers", modelPrefixes = "model_prefixes"
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
        patch = try c.decodeIfPresent(String.self, forKey: .patch)
        template = try c.decodeIfPresent(Bool.self, forKey: .template) ?? false
    }

    public init(id: String, dialect: String, baseURL: String, auth: Auth, headers: [String: String] = [:], forwardHeaders: [String] = [],
                operations: [String: Operation], models: [String] = [], modelPrefixes: [String] = [], patch: String? = nil) {
        self.id = id; self.dialect = dialect; self.baseURL = baseURL; self.auth = auth; self.headers = headers
        self.forwardHeaders = forwardHeaders; self.operations = operations; self.models = models
        self.modelPrefixes = modelPrefixes; self.patch = patch; self.template = false
    }

    /// The operation for a call (`stream` falls back to `generate`).
    public func operation(_ name: String) -> Operation? {
        operations[name] ?? (name == "stream" ? operations["generate"] : nil)
    }

    /// Does this provider route `model` (listed, or by prefix)?
    public func serves(_ model: String) -> Bool {
        models.contains(model) || modelPrefixes.contains { model.hasPrefix($0) }
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
