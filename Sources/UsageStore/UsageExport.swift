import FoundationEssentials

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// `GET /v0/management/usage/export` (management-api.md §3.8): every row
/// within retention as the usage snapshot, with all details, so an export
/// imported elsewhere recreates the same rows.
public struct UsageExport: Encodable, Sendable {
    public var version = 1
    public var exportedAt: String
    public var usage: UsageSnapshot

    enum CodingKeys: String, CodingKey {
        case version
        case exportedAt = "exported_at"
        case usage
    }

    public init(usage: UsageSnapshot, at ms: Int64 = UsageRecord.nowMs()) {
        self.usage = usage
        self.exportedAt = UTC.rfc3339(ms)
    }

    public func jsonBytes() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array(try encoder.encode(self))
    }
}

extension UsageStore {
    /// The export body: the snapshot with every detail row.
    public func exportJSON() throws -> [UInt8] {
        try UsageExport(usage: snapshot(detailLimit: Int.max)).jsonBytes()
    }
}

/// A body for `POST /usage/import`, read leniently: exports of the existing
/// product (version 0 or 1) carry only `apis → models → details`, and some of
/// a detail's fields may be missing. Only details become rows — the counters
/// beside them are sums of the details, recomputed from the rows.
public struct UsageImport: Decodable, Sendable {
    public enum Failure: Error, Equatable { case unsupportedVersion, badTimestamp(String) }

    struct Usage: Decodable { var apis: [String: API]? }
    struct API: Decodable { var models: [String: Model]? }
    struct Model: Decodable { var details: [Detail]? }
    struct Detail: Decodable {
        var timestamp: String
        var latencyMs: Int?
        var source: String?
        var authIndex: String?
        var failed: Bool?
        var tokens: Tokens?
        enum CodingKeys: String, CodingKey {
            case timestamp, source, failed, tokens
            case latencyMs = "latency_ms"
            case authIndex = "auth_index"
        }
    }
    struct Tokens: Decodable {
        var inputTokens: Int?, outputTokens: Int?, reasoningTokens: Int?, cachedTokens: Int?, totalTokens: Int?
        enum CodingKeys: String, CodingKey {
            case inputTokens = "input_tokens", outputTokens = "output_tokens", reasoningTokens = "reasoning_tokens"
            case cachedTokens = "cached_tokens", totalTokens = "total_tokens"
        }
    }

    var version: Int?
    var usage: Usage?

    public static func decode(_ bytes: [UInt8]) throws -> UsageImport {
        try JSONDecoder().decode(UsageImport.self, from: Data(bytes))
    }

    /// The rows this body describes. `key` maps each `apis` key to the label
    /// stored (the caller decides how raw client keys are hidden).
    /// Imported rows have no dialect or provider and status 0: the export does
    /// not carry them; `failed` is kept as exported.
    public func records(key: (String) -> String) throws -> [UsageRecord] {
        guard version == nil || version == 0 || version == 1 else { throw Failure.unsupportedVersion }
        var out: [UsageRecord] = []
        for (apiKey, api) in usage?.apis ?? [:] {
            let label = key(apiKey)
            for (model, m) in api.models ?? [:] {
                for d in m.details ?? [] {
                    guard let ms = UTC.parseRFC3339(d.timestamp) else { throw Failure.badTimestamp(d.timestamp) }
                    let t = d.tokens
                    out.append(UsageRecord(timeMs: ms, clientKey: label, model: model, account: d.authIndex ?? "",
                                           source: d.source ?? "", status: 0, failed: d.failed ?? false,
                                           latencyMs: d.latencyMs ?? 0, inputTokens: t?.inputTokens ?? 0,
                                           outputTokens: t?.outputTokens ?? 0, reasoningTokens: t?.reasoningTokens ?? 0,
                                           cachedTokens: t?.cachedTokens ?? 0, totalTokens: t?.totalTokens))
                }
            }
        }
        return out
    }
}

extension UTC {
    /// Parses RFC 3339 (`2026-04-14T09:15:04.123Z`, any fraction length, `Z`
    /// or `±hh:mm`) to Unix milliseconds; nil when malformed.
    static func parseRFC3339(_ text: String) -> Int64? {
        let b = Array(text.utf8)
        func num(_ at: Int, _ n: Int) -> Int? {
            guard at + n <= b.count else { return nil }
            var v = 0
            for c in b[at..<at + n] { guard (48...57).contains(c) else { return nil }; v = v * 10 + Int(c - 48) }
            return v
        }
        guard b.count >= 20, let y = num(0, 4), b[4] == 45, let mo = num(5, 2), b[7] == 45, let d = num(8, 2),
              b[10] == 84 || b[10] == 116 || b[10] == 32, let h = num(11, 2), b[13] == 58, let mi = num(14, 2),
              b[16] == 58, let s = num(17, 2), (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, s < 61
        else { return nil }
        var i = 19, millis = 0
        if i < b.count, b[i] == 46 {
            i += 1
            var digits = 0
            while i < b.count, (48...57).contains(b[i]) {
                if digits < 3 { millis = millis * 10 + Int(b[i] - 48) }
                digits += 1; i += 1
            }
            guard digits > 0 else { return nil }
            if digits < 3 { for _ in digits..<3 { millis *= 10 } }
        }
        var offset = 0
        if i < b.count, b[i] == 90 || b[i] == 122 { i += 1 }
        else if i < b.count, b[i] == 43 || b[i] == 45, let oh = num(i + 1, 2), i + 3 < b.count, b[i + 3] == 58, let om = num(i + 4, 2) {
            offset = (oh * 60 + om) * 60 * (b[i] == 43 ? 1 : -1)
            i += 6
        } else { return nil }
        guard i == b.count else { return nil }
        var t = tm()
        t.tm_year = Int32(y - 1900); t.tm_mon = Int32(mo - 1); t.tm_mday = Int32(d)
        t.tm_hour = Int32(h); t.tm_min = Int32(mi); t.tm_sec = Int32(s)
        let seconds = Int64(timegm(&t)) - Int64(offset)
        return seconds * 1000 + Int64(millis)
    }
}
