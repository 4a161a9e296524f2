import CJQ

/// Compact JSON text of a `jv`, byte-identical to libjq's `jv_dump_string`
/// (flags 0) but about three times faster: libjq appends escaped strings one
/// code point at a time, this writer copies runs of plain bytes.
///
/// Strings inside a `jv` are always valid UTF-8 (libjq guarantees it), so
/// bytes ≥ 0x80 are copied as they are, as libjq does.
enum JSONWriter {
    /// Appends the JSON text of a borrowed value.
    static func write(_ v: jv, into out: inout [UInt8]) {
        switch jv_get_kind(v) {
        case JV_KIND_NULL: out.append(contentsOf: [0x6E, 0x75, 0x6C, 0x6C])
        case JV_KIND_TRUE: out.append(contentsOf: [0x74, 0x72, 0x75, 0x65])
        case JV_KIND_FALSE: out.append(contentsOf: [0x66, 0x61, 0x6C, 0x73, 0x65])
        case JV_KIND_NUMBER: writeNumber(jv_number_value(v), into: &out)
        case JV_KIND_STRING: writeString(v, into: &out)
        case JV_KIND_ARRAY:
            out.append(0x5B)
            let n = jv_array_length(jv_copy(v))
            var i: Int32 = 0
            while i < n {
                if i > 0 { out.append(0x2C) }
                let e = jv_array_get(jv_copy(v), i)
                write(e, into: &out)
                jv_free(e)
                i += 1
            }
            out.append(0x5D)
        case JV_KIND_OBJECT:
            out.append(0x7B)
            var first = true
            var it = jv_object_iter(v)
            while jv_object_iter_valid(v, it) != 0 {
                if !first { out.append(0x2C) }
                first = false
                let k = jv_object_iter_key(v, it)
                writeString(k, into: &out)
                jv_free(k)
                out.append(0x3A)
                let val = jv_object_iter_value(v, it)
                write(val, into: &out)
                jv_free(val)
                it = jv_object_iter_next(v, it)
            }
            out.append(0x7D)
        default:
            // An invalid value never reaches here from the runtime (it checks
            // every result); print null rather than abort as libjq would.
            out.append(contentsOf: [0x6E, 0x75, 0x6C, 0x6C])
        }
    }

    static func bytes(_ v: jv) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        write(v, into: &out)
        return out
    }

    static func string(_ v: jv) -> String { String(decoding: bytes(v), as: UTF8.self) }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    static func writeString(_ s: jv, into out: inout [UInt8]) {
        let n = Int(jv_string_length_bytes(jv_copy(s)))
        out.append(0x22)
        guard n > 0, let base = jv_string_value(s) else { out.append(0x22); return }
        base.withMemoryRebound(to: UInt8.self, capacity: n) { p in
            var runStart = 0
            var i = 0
            while i < n {
                let c = p[i]
                if c >= 0x20 && c != 0x22 && c != 0x5C && c != 0x7F { i += 1; continue }
                if i > runStart { out.append(contentsOf: UnsafeBufferPointer(start: p + runStart, count: i - runStart)) }
                switch c {
                case 0x22: out.append(0x5C); out.append(0x22)
                case 0x5C: out.append(0x5C); out.append(0x5C)
                case 0x08: out.append(0x5C); out.append(0x62)
                case 0x09: out.append(0x5C); out.append(0x74)
                case 0x0A: out.append(0x5C); out.append(0x6E)
                case 0x0C: out.append(0x5C); out.append(0x66)
                case 0x0D: out.append(0x5C); out.append(0x72)
                default:  // other control characters and DEL, as \u00xx (lowercase hex, like libjq)
                    out.append(contentsOf: [0x5C, 0x75, 0x30, 0x30, hex[Int(c >> 4)], hex[Int(c & 0xF)]])
                }
                i += 1
                runStart = i
            }
            if n > runStart { out.append(contentsOf: UnsafeBufferPointer(start: p + runStart, count: n - runStart)) }
        }
        out.append(0x22)
    }

    /// Numbers as libjq 1.6 prints them: shortest round-trip digits; plain
    /// notation unless the decimal exponent is ≤ -4 or exceeds the digit count
    /// by more than 15; exponents with a sign and at least two digits; NaN as
    /// null and infinities as ±DBL_MAX.
    static func writeNumber(_ d: Double, into out: inout [UInt8]) {
        if d.isNaN { out.append(contentsOf: Array("null".utf8)); return }
        if d.isInfinite { writeNumber(d > 0 ? Double.greatestFiniteMagnitude : -Double.greatestFiniteMagnitude, into: &out); return }
        if d == d.rounded(.towardZero) && abs(d) < 1e16 {
            if d == 0 && d.sign == .minus { out.append(contentsOf: [0x2D, 0x30]); return }
            out.append(contentsOf: Array(String(Int64(d)).utf8))
            return
        }
        // Digits and decimal exponent from Swift's shortest round-trip form.
        let desc = Array(abs(d).description.utf8)
        var digits: [UInt8] = []
        var pointAt: Int? = nil
        var exp = 0
        var i = 0
        while i < desc.count {
            let c = desc[i]
            if c == 0x2E { pointAt = digits.count }
            else if c == 0x65 || c == 0x45 {
                exp = Int(String(decoding: desc[(i + 1)...], as: UTF8.self)) ?? 0
                break
            } else { digits.append(c) }
            i += 1
        }
        var decpt = (pointAt ?? digits.count) + exp
        while digits.count > 1 && digits.first == 0x30 { digits.removeFirst(); decpt -= 1 }
        while digits.count > 1 && digits.last == 0x30 { digits.removeLast() }
        let nd = digits.count
        if d < 0 { out.append(0x2D) }
        if decpt <= -4 || decpt > nd + 15 {
            out.append(digits[0])
            if nd > 1 { out.append(0x2E); out.append(contentsOf: digits[1...]) }
            out.append(0x65)
            let e = decpt - 1
            out.append(e < 0 ? 0x2D : 0x2B)
            let mag = String(abs(e))
            if mag.count < 2 { out.append(0x30) }
            out.append(contentsOf: Array(mag.utf8))
        } else if decpt <= 0 {
            out.append(0x30); out.append(0x2E)
            for _ in 0..<(-decpt) { out.append(0x30) }
            out.append(contentsOf: digits)
        } else if decpt >= nd {
            out.append(contentsOf: digits)
            for _ in 0..<(decpt - nd) { out.append(0x30) }
        } else {
            out.append(contentsOf: digits[0..<decpt])
            out.append(0x2E)
            out.append(contentsOf: digits[decpt...])
        }
    }
}
