import FoundationEssentials

/// Aggregated usage in the shape of the management API's `GET /usage`
/// (management-api.md §3.8), so existing management UIs read it unchanged.
/// Days and hours are UTC; hour buckets `"00"`–`"23"` merge all days, as in
/// the reference. `accounts` and `models` are additions: the reference has no
/// per-account view, and cooldown questions are per account.
public struct UsageSnapshot: Codable, Sendable, Equatable {
    public var totalRequests: Int
    public var successCount: Int
    public var failureCount: Int
    public var totalTokens: Int
    public var requestsByDay: [String: Int]
    public var requestsByHour: [String: Int]
    public var tokensByDay: [String: Int]
    public var tokensByHour: [String: Int]
    /// By client key label, then by model.
    public var apis: [String: APIUsage]
    /// By account (credential id); requests without an account are under "".
    public var accounts: [String: UsageTally]
    /// By model across all client keys.
    public var models: [String: UsageTally]

    enum CodingKeys: String, CodingKey {
        case totalRequests = "total_requests"
        case successCount = "success_count"
        case failureCount = "failure_count"
        case totalTokens = "total_tokens"
        case requestsByDay = "requests_by_day"
        case requestsByHour = "requests_by_hour"
        case tokensByDay = "tokens_by_day"
        case tokensByHour = "tokens_by_hour"
        case apis, accounts, models
    }

    /// An empty snapshot (a fresh database).
    public init() {
        totalRequests = 0; successCount = 0; failureCount = 0; totalTokens = 0
        requestsByDay = [:]; requestsByHour = [:]; tokensByDay = [:]; tokensByHour = [:]
        apis = [:]; accounts = [:]; models = [:]
    }
}

/// Counts for one group (an account, a model).
public struct UsageTally: Codable, Sendable, Equatable {
    public var totalRequests: Int
    public var successCount: Int
    public var failureCount: Int
    public var totalTokens: Int

    enum CodingKeys: String, CodingKey {
        case totalRequests = "total_requests"
        case successCount = "success_count"
        case failureCount = "failure_count"
        case totalTokens = "total_tokens"
    }

    public init(totalRequests: Int = 0, successCount: Int = 0, failureCount: Int = 0, totalTokens: Int = 0) {
        self.totalRequests = totalRequests
        self.successCount = successCount
        self.failureCount = failureCount
        self.totalTokens = totalTokens
    }
}

/// One client key's usage: the reference's `apis.<key>` object (with
/// success/failure counts added).
public struct APIUsage: Codable, Sendable, Equatable {
    public var totalRequests: Int
    public var successCount: Int
    public var failureCount: Int
    public var totalTokens: Int
    public var models: [String: ModelUsage]

    enum CodingKeys: String, CodingKey {
        case totalRequests = "total_requests"
        case successCount = "success_count"
        case failureCount = "failure_count"
        case totalTokens = "total_tokens"
        case models
    }

    public init(totalRequests: Int = 0, successCount: Int = 0, failureCount: Int = 0, totalTokens: Int = 0,
                models: [String: ModelUsage] = [:]) {
        self.totalRequests = totalRequests
        self.successCount = successCount
        self.failureCount = failureCount
        self.totalTokens = totalTokens
        self.models = models
    }
}

/// One model under one client key. `details` holds only the most recent
/// requests (newest first, capped by the snapshot's `detailLimit`): the
/// reference's unbounded list was the existing product's memory leak.
public struct ModelUsage: Codable, Sendable, Equatable {
    public var totalRequests: Int
    public var successCount: Int
    public var failureCount: Int
    public var totalTokens: Int
    public var details: [RequestDetail]

    enum CodingKeys: String, CodingKey {
        case totalRequests = "total_requests"
        case successCount = "success_count"
        case failureCount = "failure_count"
        case totalTokens = "total_tokens"
        case details
    }

    public init(totalRequests: Int = 0, successCount: Int = 0, failureCount: Int = 0, totalTokens: Int = 0,
                details: [RequestDetail] = []) {
        self.totalRequests = totalRequests
        self.successCount = successCount
        self.failureCount = failureCount
        self.totalTokens = totalTokens
        self.details = details
    }
}

/// One request in `details`, field for field as in the reference.
public struct RequestDetail: Codable, Sendable, Equatable {
    /// RFC 3339 UTC with milliseconds.
    public var timestamp: String
    public var latencyMs: Int
    public var source: String
    public var authIndex: String
    public var failed: Bool
    public var tokens: TokenCounts

    enum CodingKeys: String, CodingKey {
        case timestamp
        case latencyMs = "latency_ms"
        case source
        case authIndex = "auth_index"
        case failed, tokens
    }

    public init(timestamp: String, latencyMs: Int, source: String, authIndex: String, failed: Bool, tokens: TokenCounts) {
        self.timestamp = timestamp
        self.latencyMs = latencyMs
        self.source = source
        self.authIndex = authIndex
        self.failed = failed
        self.tokens = tokens
    }
}

/// Token counts of one request.
public struct TokenCounts: Codable, Sendable, Equatable {
    public var inputTokens: Int
    public var outputTokens: Int
    public var reasoningTokens: Int
    public var cachedTokens: Int
    public var totalTokens: Int

    enum CodingKeys: String, CodingKey {
        case inputTokens = "input_tokens"
        case outputTokens = "output_tokens"
        case reasoningTokens = "reasoning_tokens"
        case cachedTokens = "cached_tokens"
        case totalTokens = "total_tokens"
    }

    public init(inputTokens: Int, outputTokens: Int, reasoningTokens: Int, cachedTokens: Int, totalTokens: Int) {
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.reasoningTokens = reasoningTokens
        self.cachedTokens = cachedTokens
        self.totalTokens = totalTokens
    }
}

/// The body of `GET /v0/management/usage`: `failed_requests` repeats
/// `usage.failure_count`, as the reference specifies.
public struct UsageResponse: Codable, Sendable, Equatable {
    public var usage: UsageSnapshot
    public var failedRequests: Int

    enum CodingKeys: String, CodingKey {
        case usage
        case failedRequests = "failed_requests"
    }

    public init(usage: UsageSnapshot) {
        self.usage = usage
        self.failedRequests = usage.failureCount
    }

    /// JSON bytes with sorted keys, so responses are stable for tests and diffs.
    public func jsonBytes() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array(try encoder.encode(self))
    }
}
