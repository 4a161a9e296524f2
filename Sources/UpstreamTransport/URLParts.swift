// Just enough URL parsing to validate a request, name "host:port" in error
// messages, and know which strings must never appear in one.

struct URLParts {
    /// Lower-cased scheme.
    var scheme: String
    /// The raw `user:pass` before `@`, if any.
    var userinfo: String?
    /// Host name or address; IPv6 literals keep their brackets.
    var host: String
    var port: Int?
    /// Everything after the authority: path, query, fragment.
    var rest: String

    /// `host:port`, with the scheme's default port when none is given.
    func hostPort(defaultPort: Int) -> String { "\(host):\(port ?? defaultPort)" }

    /// Parses `scheme://[userinfo@]host[:port][/path][?query][#fragment]`.
    /// Nil when malformed, or when the text holds spaces or control characters.
    init?(_ text: String) {
        let u = Array(text.utf8)
        for b in u where b <= 0x20 || b == 0x7F { return nil }
        guard let colon = u.firstIndex(of: UInt8(ascii: ":")),
              colon > 0,
              u.count >= colon + 3,
              u[colon + 1] == UInt8(ascii: "/"), u[colon + 2] == UInt8(ascii: "/")
        else { return nil }
        for b in u[..<colon] {
            let ok = (b >= 97 && b <= 122) || (b >= 65 && b <= 90) || (b >= 48 && b <= 57) || b == 43 || b == 45 || b == 46
            if !ok { return nil }
        }
        scheme = String(decoding: u[..<colon], as: UTF8.self).lowercased()
        let authStart = colon + 3
        var authEnd = authStart
        while authEnd < u.count, u[authEnd] != UInt8(ascii: "/"), u[authEnd] != UInt8(ascii: "?"), u[authEnd] != UInt8(ascii: "#") {
            authEnd += 1
        }
        rest = String(decoding: u[authEnd...], as: UTF8.self)
        var hostStart = authStart
        if let at = u[authStart..<authEnd].lastIndex(of: UInt8(ascii: "@")) {
            userinfo = String(decoding: u[authStart..<at], as: UTF8.self)
            hostStart = at + 1
        } else {
            userinfo = nil
        }
        let hp = u[hostStart..<authEnd]
        var hostEnd = authEnd
        if hp.first == UInt8(ascii: "[") {
            guard let close = hp.firstIndex(of: UInt8(ascii: "]")) else { return nil }
            hostEnd = close + 1
        } else if let c = hp.firstIndex(of: UInt8(ascii: ":")) {
            hostEnd = c
        }
        host = String(decoding: u[hostStart..<hostEnd], as: UTF8.self)
        if host.isEmpty { return nil }
        if hostEnd < authEnd {
            guard u[hostEnd] == UInt8(ascii: ":") else { return nil }
            let digits = u[(hostEnd + 1)..<authEnd]
            if digits.isEmpty {
                port = nil
            } else {
                var p = 0
                for d in digits {
                    guard d >= 48 && d <= 57 else { return nil }
                    p = p * 10 + Int(d - 48)
                    if p > 65535 { return nil }
                }
                port = p
            }
        } else {
            port = nil
        }
    }
}

/// Decodes `%XX` escapes (used for proxy user names and passwords).
func percentDecoded(_ s: String) -> String {
    let u = Array(s.utf8)
    var out: [UInt8] = []
    out.reserveCapacity(u.count)
    var i = 0
    func hex(_ b: UInt8) -> UInt8? {
        switch b {
        case 48...57: return b - 48
        case 65...70: return b - 55
        case 97...102: return b - 87
        default: return nil
        }
    }
    while i < u.count {
        if u[i] == UInt8(ascii: "%"), i + 2 < u.count, let h = hex(u[i + 1]), let l = hex(u[i + 2]) {
            out.append(h << 4 | l)
            i += 3
        } else {
            out.append(u[i])
            i += 1
        }
    }
    return String(decoding: out, as: UTF8.self)
}

/// Replaces every occurrence of any of `secrets` in `text` (longest first).
/// Secrets shorter than 4 bytes are left alone: they would only mangle words.
func redacted(_ text: String, secrets: [String]) -> String {
    var t = text
    for s in secrets.sorted(by: { $0.utf8.count > $1.utf8.count }) where s.utf8.count >= 4 {
        t = replacingAll(in: t, s, with: "<redacted>")
    }
    return t
}

private func replacingAll(in text: String, _ needle: String, with replacement: String) -> String {
    let h = Array(text.utf8), n = Array(needle.utf8)
    guard n.count <= h.count else { return text }
    var out: [UInt8] = []
    out.reserveCapacity(h.count)
    var i = 0
    var changed = false
    while i < h.count {
        if i + n.count <= h.count, h[i] == n[0], h[i..<(i + n.count)].elementsEqual(n) {
            out.append(contentsOf: replacement.utf8)
            i += n.count
            changed = true
        } else {
            out.append(h[i])
            i += 1
        }
    }
    return changed ? String(decoding: out, as: UTF8.self) : text
}
