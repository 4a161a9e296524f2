/// One pass over JSON bytes that checks they are valid JSON (and UTF-8) and
/// finds the values of a few top-level keys, without building anything.
///
/// Same-dialect passthrough needs only the model name and the stream flag of
/// a request — which keys hold them is data (`Rules/<dialect>/dialect.json`)
/// — so a large request can be forwarded without parsing it into a `jv`, and
/// an aliased model name spliced in place.
public struct JSONScan: Sendable {
    public let bytes: [UInt8]
    /// Byte ranges of the values of the top-level keys asked for.
    public private(set) var ranges: [String: Range<Int>] = [:]
    /// The root is an object.
    public private(set) var isObject = false

    /// Scans `bytes`, recording top-level `keys`; nil when not valid JSON.
    public init?(_ bytes: [UInt8], keys: Set<String>) {
        self.bytes = bytes
        var p = Parser(b: bytes, keys: keys)
        guard p.value(depth: 0), p.skipSpace() == bytes.count else { return nil }
        guard bytes.withUnsafeBytes({ UTF8Check.firstInvalidByte($0) }) == nil else { return nil }
        ranges = p.found
        isObject = p.rootIsObject
    }

    /// The string value of a top-level key (JSON escapes decoded), if it is a string.
    public func string(_ key: String) -> String? {
        guard let r = ranges[key], bytes[r.lowerBound] == 0x22 else { return nil }
        return Self.decodeString(bytes[(r.lowerBound + 1)..<(r.upperBound - 1)])
    }

    /// The value of a top-level key if it is `true` or `false`.
    public func bool(_ key: String) -> Bool? {
        guard let r = ranges[key] else { return nil }
        if r.count == 4 && bytes[r.lowerBound] == 0x74 { return true }
        if r.count == 5 && bytes[r.lowerBound] == 0x66 { return false }
        return nil
    }

    /// The bytes with the value of `key` replaced by the JSON string `value`.
    public func replacing(_ key: String, withString value: String) -> [UInt8]? {
        guard let r = ranges[key] else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(bytes.count + value.utf8.count)
        out.append(contentsOf: bytes[..<r.lowerBound])
        out.append(contentsOf: Self.encodeString(value))
        out.append(contentsOf: bytes[r.upperBound...])
        return out
    }

    static func encodeString(_ s: String) -> [UInt8] {
        var out: [UInt8] = [0x22]
        for b in s.utf8 {
            switch b {
            case 0x22: out += [0x5C, 0x22]
            case 0x5C: out += [0x5C, 0x5C]
            case 0..<0x20: out += Array("\\u00".utf8) + Array(String(b, radix: 16).leftPadded(2).utf8)
            default: out.append(b)
            }
        }
        out.append(0x22)
        return out
    }

    static func decodeString(_ raw: ArraySlice<UInt8>) -> String? {
        guard raw.contains(0x5C) else { return String(decoding: raw, as: UTF8.self) }
        var out: [UInt8] = []
        var i = raw.startIndex
        while i < raw.endIndex {
            let c = raw[i]
            if c != 0x5C { out.append(c); i += 1; continue }
            guard i + 1 < raw.endIndex else { return nil }
            let e = raw[i + 1]
            switch e {
            case 0x22, 0x5C, 0x2F: out.append(e)
            case 0x62: out.append(0x08)
            case 0x66: out.append(0x0C)
            case 0x6E: out.append(0x0A)
            case 0x72: out.append(0x0D)
            case 0x74: out.append(0x09)
            case 0x75:  // \uXXXX (surrogate pairs joined)
                guard i + 5 < raw.endIndex, let u = UInt32(String(decoding: raw[(i + 2)...(i + 5)], as: UTF8.self), radix: 16) else { return nil }
                var scalar = u
                i += 4
                if (0xD800..<0xDC00).contains(u), i + 7 < raw.endIndex, raw[i + 2] == 0x5C, raw[i + 3] == 0x75,
                   let lo = UInt32(String(decoding: raw[(i + 4)...(i + 7)], as: UTF8.self), radix: 16), (0xDC00..<0xE000).contains(lo) {
                    scalar = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00)
                    i += 6
                }
                out.append(contentsOf: Array(String(Unicode.Scalar(scalar).map(Character.init) ?? "\u{FFFD}").utf8))
            default: return nil
            }
            i += 2
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// A strict recursive-descent validator (RFC 8259), depth-limited like libjq.
    struct Parser {
        let b: [UInt8]
        let keys: Set<String>
        var i = 0
        var found: [String: Range<Int>] = [:]
        var rootIsObject = false
        static let maxDepth = 256

        init(b: [UInt8], keys: Set<String>) { self.b = b; self.keys = keys }

        mutating func skipSpace() -> Int {
            while i < b.count, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 }
            return i
        }

        mutating func value(depth: Int) -> Bool {
            guard depth < Self.maxDepth, skipSpace() < b.count else { return false }
            switch b[i] {
            case 0x7B:
                if depth == 0 { rootIsObject = true }
                return object(depth: depth)
            case 0x5B: return array(depth: depth)
            case 0x22: return string()
            case 0x74: return literal("true")
            case 0x66: return literal("false")
            case 0x6E: return literal("null")
            default: return number()
            }
        }

        mutating func object(depth: Int) -> Bool {
            i += 1
            if skipSpace() < b.count, b[i] == 0x7D { i += 1; return true }
            while true {
                guard skipSpace() < b.count, b[i] == 0x22 else { return false }
                let keyStart = i
                guard string() else { return false }
                let key = depth == 0 ? String(decoding: b[(keyStart + 1)..<(i - 1)], as: UTF8.self) : nil
                guard skipSpace() < b.count, b[i] == 0x3A else { return false }
                i += 1
                let valueStart = skipSpace()
                guard value(depth: depth + 1) else { return false }
                if let key, keys.contains(key) { found[key] = valueStart..<i }
                guard skipSpace() < b.count else { return false }
                if b[i] == 0x2C { i += 1; continue }
                if b[i] == 0x7D { i += 1; return true }
                return false
            }
        }

        mutating func array(depth: Int) -> Bool {
            i += 1
            if skipSpace() < b.count, b[i] == 0x5D { i += 1; return true }
            while true {
                guard value(depth: depth + 1), skipSpace() < b.count else { return false }
                if b[i] == 0x2C { i += 1; continue }
                if b[i] == 0x5D { i += 1; return true }
                return false
            }
        }

        mutating func string() -> Bool {
            i += 1
            while i < b.count {
                let c = b[i]
                if c == 0x22 { i += 1; return true }
                if c < 0x20 { return false }
                if c == 0x5C {
                    guard i + 1 < b.count else { return false }
                    let e = b[i + 1]
                    if e == 0x75 {
                        guard i + 5 < b.count, b[(i + 2)...(i + 5)].allSatisfy(Self.isHex) else { return false }
                        i += 6; continue
                    }
                    guard [0x22, 0x5C, 0x2F, 0x62, 0x66, 0x6E, 0x72, 0x74].contains(e) else { return false }
                    i += 2; continue
                }
                i += 1
            }
            return false
        }

        static func isHex(_ c: UInt8) -> Bool { (0x30...0x39).contains(c) || (0x41...0x46).contains(c) || (0x61...0x66).contains(c) }

        mutating func literal(_ word: StaticString) -> Bool {
            let n = word.utf8CodeUnitCount
            guard i + n <= b.count else { return false }
            let w = UnsafeBufferPointer(start: word.utf8Start, count: n)
            for k in 0..<n where b[i + k] != w[k] { return false }
            i += n
            return true
        }

        mutating func number() -> Bool {
            let start = i
            if i < b.count, b[i] == 0x2D { i += 1 }
            guard i < b.count else { return false }
            if b[i] == 0x30 { i += 1 } else {
                guard (0x31...0x39).contains(b[i]) else { return false }
                while i < b.count, (0x30...0x39).contains(b[i]) { i += 1 }
            }
            if i < b.count, b[i] == 0x2E {
                i += 1
                guard i < b.count, (0x30...0x39).contains(b[i]) else { return false }
                while i < b.count, (0x30...0x39).contains(b[i]) { i += 1 }
            }
            if i < b.count, b[i] == 0x65 || b[i] == 0x45 {
                i += 1
                if i < b.count, b[i] == 0x2B || b[i] == 0x2D { i += 1 }
                guard i < b.count, (0x30...0x39).contains(b[i]) else { return false }
                while i < b.count, (0x30...0x39).contains(b[i]) { i += 1 }
            }
            return i > start
        }
    }
}

extension String {
    func leftPadded(_ n: Int) -> String { count >= n ? self : String(repeating: "0", count: n - count) + self }
}
