#if canImport(Glibc)
import Glibc
#endif

/// RFC 3339 timestamps as credential files hold them
/// (`2026-04-14T10:00:00Z`, `2026-04-14T10:00:00.123456789+02:00`), to and
/// from Unix seconds. Hand-written: small, exact, and free of locale.
public enum RFC3339 {
    /// Unix seconds, or nil when `text` is not an RFC 3339 date-time.
    public static func parse(_ text: String) -> Double? {
        let b = Array(text.utf8)
        func num(_ i: Int, _ n: Int) -> Int? {
            guard i + n <= b.count else { return nil }
            var v = 0
            for k in i..<(i + n) {
                guard b[k] >= 0x30, b[k] <= 0x39 else { return nil }
                v = v * 10 + Int(b[k] - 0x30)
            }
            return v
        }
        guard let y = num(0, 4), b.count > 4, b[4] == 0x2D, let mo = num(5, 2), b.count > 7, b[7] == 0x2D,
              let d = num(8, 2), b.count > 10, b[10] == 0x54 || b[10] == 0x74 || b[10] == 0x20,
              let h = num(11, 2), b.count > 13, b[13] == 0x3A, let mi = num(14, 2), b.count > 16, b[16] == 0x3A,
              let s = num(17, 2), (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, s < 61 else { return nil }
        var i = 19
        var fraction = 0.0
        if i < b.count, b[i] == 0x2E {
            i += 1
            var scale = 0.1
            let start = i
            while i < b.count, b[i] >= 0x30, b[i] <= 0x39 { fraction += Double(b[i] - 0x30) * scale; scale /= 10; i += 1 }
            if i == start { return nil }
        }
        guard i < b.count else { return nil }
        var offset = 0
        switch b[i] {
        case 0x5A, 0x7A: i += 1
        case 0x2B, 0x2D:
            guard let oh = num(i + 1, 2), i + 3 < b.count, b[i + 3] == 0x3A, let om = num(i + 4, 2) else { return nil }
            offset = (oh * 3600 + om * 60) * (b[i] == 0x2B ? 1 : -1)
            i += 6
        default: return nil
        }
        guard i == b.count else { return nil }
        return Double(days(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - offset) + fraction
    }

    /// `2026-04-14T10:00:00Z` (whole seconds, UTC).
    public static func format(_ seconds: Double) -> String {
        var t = time_t(seconds.rounded(.down))
        var parts = tm()
        gmtime_r(&t, &parts)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date.
    static func days(_ y: Int, _ m: Int, _ d: Int) -> Int {
        let yy = m <= 2 ? y - 1 : y
        let era = (yy >= 0 ? yy : yy - 399) / 400
        let yoe = yy - era * 400
        let mp = (m + 9) % 12
        let doy = (153 * mp + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }
}
