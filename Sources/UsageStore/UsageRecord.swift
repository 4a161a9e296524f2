import Crypto

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One proxied request, as it is stored: who asked (by label, never by key),
/// for what, which upstream account served it, how it ended and what it cost.
public struct UsageRecord: Sendable, Equatable, Codable {
    /// When the request started, in Unix milliseconds (UTC).
    public var timeMs: Int64
    /// The client API key's label: a caller-chosen name or
    /// `UsageRecord.label(forKey:)`. Never the key itself, because the
    /// database outlives the config and is readable by the management API.
    public var clientKey: String
    /// The dialect the client spoke (e.g. `openai`, `claude`, `gemini`).
    public var dialect: String
    /// The model the client asked for.
    public var model: String
    /// The upstream provider that served it.
    public var provider: String
    /// The credential id (the management API's `auth_index`), or "" for none.
    public var account: String
    /// Where the credential came from (e.g. its file name), shown as
    /// `source` in the details; "" when unknown.
    public var source: String
    /// The HTTP status returned to the client (0 when the connection failed).
    public var status: Int
    /// Whether the request counts as a failure.
    public var failed: Bool
    /// Wall time from request to the end of the response, in milliseconds.
    public var latencyMs: Int
    public var inputTokens: Int
    public var outputTokens: Int
    public var reasoningTokens: Int
    public var cachedTokens: Int
    /// The request's total tokens as counted in every sum.
    public var totalTokens: Int

    /// `failed` defaults to "status outside 2xx/3xx" and `totalTokens` to
    /// input + output: the OpenAI and Claude dialects already include
    /// reasoning in the output count and cached tokens in (or alongside) the
    /// input, so adding them again would double count. A caller whose
    /// upstream reports them separately (Gemini's `thoughtsTokenCount`)
    /// passes the upstream's own total.
    public init(
        timeMs: Int64 = UsageRecord.nowMs(),
        clientKey: String,
        dialect: String = "",
        model: String,
        provider: String = "",
        account: String = "",
        source: String = "",
        status: Int,
        failed: Bool? = nil,
        latencyMs: Int = 0,
        inputTokens: Int = 0,
        outputTokens: Int = 0,
        reasoningTokens: Int = 0,
        cachedTokens: Int = 0,
        totalTokens: Int? = nil
    ) {
        self.timeMs = timeMs
        self.clientKey = clientKey
        self.dialect = dialect
        self.model = model
        self.provider = provider
        self.account = account
        self.source = source
        self.status = status
        self.failed = failed ?? !(200..<400).contains(status)
        self.latencyMs = latencyMs
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.reasoningTokens = reasoningTokens
        self.cachedTokens = cachedTokens
        self.totalTokens = totalTokens ?? (inputTokens + outputTokens)
    }

    /// A stable, non-reversible label for a client API key: `key-` and the
    /// first 16 hex digits (64 bits) of its SHA-256. Stable so a key's rows
    /// group together across restarts; a prefix so the label is short in the
    /// management UI. Keys are long random strings, so the hash cannot be
    /// turned back into the key; an empty key (no client auth) is `anonymous`.
    public static func label(forKey key: String) -> String {
        guard !key.isEmpty else { return "anonymous" }
        let digest = SHA256.hash(data: Array(key.utf8))
        let hex = digest.prefix(8).map { byte -> String in
            let s = String(byte, radix: 16)
            return s.count == 1 ? "0" + s : s
        }.joined()
        return "key-" + hex
    }

    /// The current wall-clock time in Unix milliseconds.
    public static func nowMs() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}

/// UTC calendar formatting without Foundation's formatters (the package
/// links only FoundationEssentials): `gmtime_r` is exact and cheap.
enum UTC {
    static func parts(_ ms: Int64) -> tm {
        var seconds = time_t(ms >= 0 ? ms / 1000 : (ms - 999) / 1000)
        var out = tm()
        gmtime_r(&seconds, &out)
        return out
    }

    private static func pad(_ v: Int32, _ width: Int) -> String {
        let s = String(v)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }

    /// RFC 3339 with milliseconds, as in the reference: `2026-04-14T09:15:04.123Z`.
    static func rfc3339(_ ms: Int64) -> String {
        let t = parts(ms)
        let millis = Int32(((ms % 1000) + 1000) % 1000)
        return "\(pad(t.tm_year + 1900, 4))-\(pad(t.tm_mon + 1, 2))-\(pad(t.tm_mday, 2))T"
            + "\(pad(t.tm_hour, 2)):\(pad(t.tm_min, 2)):\(pad(t.tm_sec, 2)).\(pad(millis, 3))Z"
    }

    /// A compact stamp for file names: `20261130T150102Z`.
    static func fileStamp(_ ms: Int64) -> String {
        let t = parts(ms)
        return "\(pad(t.tm_year + 1900, 4))\(pad(t.tm_mon + 1, 2))\(pad(t.tm_mday, 2))T"
            + "\(pad(t.tm_hour, 2))\(pad(t.tm_min, 2))\(pad(t.tm_sec, 2))Z"
    }
}
