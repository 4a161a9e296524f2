import CJQ

/// One server-sent event as it came off the wire: its `event:` name, if any,
/// and its `data:` lines joined by "\n".
public struct SSEEvent: Sendable, Equatable {
    public var name: String?
    public var data: [UInt8]
    public init(name: String?, data: [UInt8]) { self.name = name; self.data = data }
}

/// Splits an SSE byte stream into events, across arbitrary chunk boundaries
/// (TCP reads do not respect events, pitfall 59). Lines end in LF or CRLF;
/// a blank line ends an event; `:` lines are comments; fields other than
/// `event` and `data` are ignored. Framing only: no dialect is known here.
public struct SSEParser: Sendable {
    private var buffer: [UInt8] = []
    private var name: String? = nil
    private var data: [UInt8] = []
    private var hasData = false

    public init() {}

    /// Feeds bytes; returns the events they completed.
    public mutating func feed(_ chunk: some Collection<UInt8>) -> [SSEEvent] {
        buffer.append(contentsOf: chunk)
        var events: [SSEEvent] = []
        var lineStart = 0
        var i = 0
        let pending = buffer  // a second reference: `line` mutates self while we read
        let n = pending.count
        pending.withUnsafeBufferPointer { b in
            while i < n {
                if b[i] == 0x0A {
                    var end = i
                    if end > lineStart && b[end - 1] == 0x0D { end -= 1 }
                    line(UnsafeBufferPointer(rebasing: b[lineStart..<end]), &events)
                    lineStart = i + 1
                }
                i += 1
            }
        }
        if lineStart > 0 { buffer.removeFirst(lineStart) }
        return events
    }

    /// Whether bytes of an event that has not ended yet are buffered: at the
    /// end of a stream, a sign that it was cut in the middle of an event.
    public var hasPartialEvent: Bool { hasData || name != nil || buffer.contains { $0 != 0x0A && $0 != 0x0D } }

    /// Ends the stream. A final event without its closing blank line is
    /// incomplete and dropped, as the SSE specification says; the stream
    /// rules then see a stream without its terminator and report it.
    public mutating func finish() -> [SSEEvent] {
        buffer.removeAll()
        name = nil; data.removeAll(); hasData = false
        return []
    }

    private mutating func line(_ l: UnsafeBufferPointer<UInt8>, _ events: inout [SSEEvent]) {
        if l.isEmpty {
            if hasData { events.append(SSEEvent(name: name, data: data)) }
            name = nil; data = []; hasData = false
            return
        }
        if l[0] == 0x3A { return }  // comment
        var colon = l.firstIndex(of: 0x3A) ?? l.count
        let field = l[0..<colon]
        if colon < l.count { colon += 1; if colon < l.count && l[colon] == 0x20 { colon += 1 } }
        let value = l[colon..<l.count]
        if field.elementsEqual("data".utf8) {
            if hasData { data.append(0x0A) }
            data.append(contentsOf: value)
            hasData = true
        } else if field.elementsEqual("event".utf8) {
            name = String(decoding: value, as: UTF8.self)
        }
    }
}

/// Cuts a byte stream at SSE event boundaries (a blank line, LF or CRLF), for
/// a relay that passes events through without parsing them: only whole events
/// go out, and a stream that stops in the middle of one is noticed. Framing
/// only: no dialect is known here.
public struct SSEEventAligner: Sendable {
    private var pending: [UInt8] = []
    /// Beyond this many bytes without a boundary the bytes go out anyway.
    static let limit = 16 << 20

    public init() {}

    /// Feeds a chunk; returns the bytes up to the end of the last complete
    /// event (possibly none) and keeps the rest.
    public mutating func take(_ chunk: [UInt8]) -> [UInt8] {
        if pending.isEmpty, Self.lastEventEnd(chunk, from: 0) == chunk.count { return chunk }
        let from = max(0, pending.count - 2)  // `pending` holds no boundary
        pending.append(contentsOf: chunk)
        guard let end = Self.lastEventEnd(pending, from: from) else {
            if pending.count > Self.limit { defer { pending = [] }; return pending }
            return []
        }
        let out = Array(pending[..<end])
        pending.removeFirst(end)
        return out
    }

    /// Bytes of an unfinished event are held back (blank lines do not count).
    public var hasPartialEvent: Bool { pending.contains { $0 != 0x0A && $0 != 0x0D } }

    /// The index after the last blank line that starts at or after `from`.
    static func lastEventEnd(_ b: [UInt8], from: Int) -> Int? {
        var i = b.count - 1
        while i >= max(1, from + 1) {
            if b[i] == 0x0A && (b[i - 1] == 0x0A || (b[i - 1] == 0x0D && i >= 2 && b[i - 2] == 0x0A)) { return i + 1 }
            i -= 1
        }
        return nil
    }
}

/// Writes the events a stream rule returned (`[{event, data}]`) as SSE bytes:
/// `event: <name>` when there is one, then `data: <compact JSON>` — or the
/// raw text when `data` is a string, such as Chat's `[DONE]` — and a blank line.
enum SSEWriter {
    static func append(events out: jv, into bytes: inout [UInt8]) {
        let n = JV.arrayCount(out)
        for i in 0..<n {
            let e = JV.element(out, i)
            defer { jv_free(e) }
            let name = JV.get(e, "event"), data = JV.get(e, "data")
            defer { jv_free(name); jv_free(data) }
            if JV.isString(name) {
                bytes.append(contentsOf: Array("event: ".utf8))
                appendRaw(name, &bytes)
                bytes.append(0x0A)
            }
            if JV.isString(data) {
                // Raw text: one `data:` line per line of text.
                var line: [UInt8] = []
                appendRaw(data, &line)
                var start = 0
                for (k, c) in line.enumerated() where c == 0x0A {
                    bytes.append(contentsOf: Array("data: ".utf8)); bytes.append(contentsOf: line[start..<k]); bytes.append(0x0A)
                    start = k + 1
                }
                bytes.append(contentsOf: Array("data: ".utf8)); bytes.append(contentsOf: line[start...]); bytes.append(0x0A)
            } else {
                bytes.append(contentsOf: Array("data: ".utf8))
                JSONWriter.write(data, into: &bytes)
                bytes.append(0x0A)
            }
            bytes.append(0x0A)
        }
    }

    private static func appendRaw(_ s: jv, _ bytes: inout [UInt8]) {
        let n = Int(jv_string_length_bytes(jv_copy(s)))
        guard n > 0, let p = jv_string_value(s) else { return }
        p.withMemoryRebound(to: UInt8.self, capacity: n) { bytes.append(contentsOf: UnsafeBufferPointer(start: $0, count: n)) }
    }

    /// Events as the `[{event, data}]` array the stream rules take; `data`
    /// is parsed JSON when it parses, the raw text otherwise.
    static func jvEvents(_ events: [SSEEvent]) -> jv {
        var arr = jv_array_sized(Int32(events.count))
        for e in events {
            var obj = jv_object()
            obj = JV.set(owned: obj, "event", owned: e.name.map(JV.string) ?? jv_null())
            let data = JV.jsonOrString(e.data)
            obj = JV.set(owned: obj, "data", owned: data)
            arr = jv_array_append(arr, obj)
        }
        return arr
    }
}
