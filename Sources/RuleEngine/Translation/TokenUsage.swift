import CJQ
import Synchronization

/// Token counts an upstream reported, read from the IR's `Usage`
/// (`Rules/README.md`): `input` counts every input token including cached
/// ones, `output` every output token including reasoning. The rules put
/// each dialect's fields there; this type reads only the IR.
public struct TokenUsage: Sendable, Equatable {
    public var input = 0
    public var output = 0
    public var cached = 0
    public var reasoning = 0
    /// The upstream's own total when it gave one, else input + output.
    public var total = 0

    public init(input: Int = 0, output: Int = 0, cached: Int = 0, reasoning: Int = 0, total: Int? = nil) {
        self.input = input; self.output = output; self.cached = cached; self.reasoning = reasoning
        self.total = total ?? input + output
    }

    /// An IR Usage object (borrowed); nil when it is not one.
    static func from(_ v: jv) -> TokenUsage? {
        guard JV.isObject(v) else { return nil }
        func n(_ key: String) -> Int? {
            let x = JV.get(v, key)
            defer { jv_free(x) }
            return JV.number(x).map { Int($0) }
        }
        guard n("input") != nil || n("output") != nil else { return nil }
        return TokenUsage(input: n("input") ?? 0, output: n("output") ?? 0, cached: n("cached") ?? 0,
                          reasoning: n("reasoning") ?? 0, total: n("total"))
    }

    /// The usage of IR stream events (borrowed array): `message_start` and
    /// `message_delta` carry it, cumulative, so the latest non-empty wins.
    static func from(events: jv, after earlier: TokenUsage?) -> TokenUsage? {
        var latest = earlier
        for i in 0..<JV.arrayCount(events) {
            let e = JV.element(events, i)
            let u = JV.get(e, "usage")
            if let found = from(u) { latest = found.merging(over: latest) }
            jv_free(u); jv_free(e)
        }
        return latest
    }

    /// This reading, with fields it lacks (zero) taken from an earlier one:
    /// a stream's opening event may carry the input and its closing one only
    /// the output.
    func merging(over earlier: TokenUsage?) -> TokenUsage {
        guard let earlier else { return self }
        var m = self
        if m.input == 0 { m.input = earlier.input }
        if m.cached == 0 { m.cached = earlier.cached }
        if m.output == 0 { m.output = earlier.output }
        if m.reasoning == 0 { m.reasoning = earlier.reasoning }
        m.total = max(m.total, m.input + m.output)
        return m
    }
}

/// The usage an exchange has seen so far (shared by its bound copies; one
/// attempt runs at a time).
final class UsageCell: Sendable {
    private let value = Mutex<TokenUsage?>(nil)
    var current: TokenUsage? { value.withLock { $0 } }
    func set(_ u: TokenUsage?) { if let u { value.withLock { $0 = u } } }
    /// Folds IR stream events (borrowed) into the reading.
    func note(events: jv) { value.withLock { $0 = TokenUsage.from(events: events, after: $0) } }
}
