/// Query strings and form bodies: percent-encoding out, percent-decoding in.
public enum URLQuery {
    /// `name=value&…`, every byte but RFC 3986's unreserved ones
    /// percent-encoded (also a valid `application/x-www-form-urlencoded` body).
    public static func encode(_ pairs: [(String, String)]) -> String {
        pairs.map { escape($0.0) + "=" + escape($0.1) }.joined(separator: "&")
    }

    /// `url` with `pairs` appended to its query.
    static func appending(_ pairs: [(String, String)], to url: String) -> String {
        guard !pairs.isEmpty else { return url }
        let joiner = url.contains("?") ? (url.hasSuffix("?") || url.hasSuffix("&") ? "" : "&") : "?"
        return url + joiner + encode(pairs)
    }

    static func escape(_ text: String) -> String {
        let hex = Array("0123456789ABCDEF".unicodeScalars)
        var out = String.UnicodeScalarView()
        for b in text.utf8 {
            switch b {
            case 0x41...0x5A, 0x61...0x7A, 0x30...0x39, 0x2D, 0x2E, 0x5F, 0x7E:
                out.append(Unicode.Scalar(b))
            default:
                out.append("%")
                out.append(hex[Int(b >> 4)])
                out.append(hex[Int(b & 0xF)])
            }
        }
        return String(out)
    }

    /// The pairs of a query string (no leading `?`), decoded; `+` is a space.
    static func parse(_ query: Substring) -> [(String, String)] {
        query.split(separator: "&").compactMap { part in
            guard !part.isEmpty else { return nil }
            let kv = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (unescape(kv[0]), kv.count > 1 ? unescape(kv[1]) : "")
        }
    }

    /// The decoded query of a full URL (between `?` and `#`); empty when it has none.
    public static func parameters(ofURL url: Substring) -> [(String, String)] {
        guard let q = url.firstIndex(of: "?") else { return [] }
        let rest = url[url.index(after: q)...]
        return parse(rest.firstIndex(of: "#").map { rest[..<$0] } ?? rest)
    }

    static func unescape(_ text: Substring) -> String {
        var bytes: [UInt8] = []
        var it = Array(text.utf8)[...]
        while let b = it.popFirst() {
            if b == 0x2B { bytes.append(0x20); continue }
            if b == 0x25, it.count >= 2, let hi = hexValue(it[it.startIndex]), let lo = hexValue(it[it.startIndex + 1]) {
                bytes.append(hi << 4 | lo)
                it = it.dropFirst(2)
                continue
            }
            bytes.append(b)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: return c - 0x30
        case 0x41...0x46: return c - 0x41 + 10
        case 0x61...0x66: return c - 0x61 + 10
        default: return nil
        }
    }

    /// `host[:port]` of a URL, for messages (never the path or query).
    static func hostPort(_ url: String) -> String {
        var rest = Substring(url)
        if let r = rest.firstRange(of: "://") { rest = rest[r.upperBound...] }
        let end = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
        var host = rest[..<end]
        if let at = host.lastIndex(of: "@") { host = host[host.index(after: at)...] }
        return host.isEmpty ? "the server" : String(host)
    }
}
