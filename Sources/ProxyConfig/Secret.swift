// Secrets (API keys, the management key) that never print unmasked.

/// A secret string: an API key or the management key.
///
/// Every way of printing it — `description`, `debugDescription`, `dump`, string
/// interpolation, printing an array of them — shows only ``masked``. Read the real
/// value with ``revealed`` where it must leave the process (an upstream header),
/// and compare a client's key with ``matches(_:)``.
public struct Secret: Sendable, Hashable, ExpressibleByStringLiteral,
    CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable
{
    /// The real value. Never log it.
    public let revealed: String

    public init(_ value: String) { revealed = value }
    public init(stringLiteral value: String) { revealed = value }

    public var isEmpty: Bool { revealed.isEmpty }

    /// `****` plus the last four characters when the secret has at least 16, else `****`;
    /// empty for an empty secret.
    public var masked: String { Secret.mask(revealed) }

    public var description: String { masked }
    public var debugDescription: String { "Secret(\(masked))" }
    public var customMirror: Mirror { Mirror(self, children: ["masked": masked], displayStyle: .struct) }

    /// Compares with `candidate` in time independent of where they differ.
    public func matches(_ candidate: some StringProtocol) -> Bool {
        let a = Array(revealed.utf8), b = Array(candidate.utf8)
        var diff = UInt8(a.count == b.count ? 0 : 1)
        let n = max(a.count, b.count)
        for i in 0..<n {
            let x = i < a.count ? a[i] : 0
            let y = i < b.count ? b[i] : 0
            diff |= x ^ y
        }
        return diff == 0
    }

    /// See ``masked``.
    public static func mask(_ value: String) -> String {
        if value.isEmpty { return "" }
        let scalars = value.unicodeScalars
        guard scalars.count >= 16 else { return "****" }
        var tail = String.UnicodeScalarView()
        tail.append(contentsOf: scalars.suffix(4))
        return "****" + String(tail)
    }

    /// A URL with the password of its user-info masked: `socks5://user:****@host:1080/`.
    /// User-info without a password is masked whole (it may be a token): `https://****@host/`.
    public static func maskURL(_ url: String) -> String {
        guard let schemeEnd = url.firstRange(of: "://") else { return url }
        let afterScheme = url[schemeEnd.upperBound...]
        let authorityEnd = afterScheme.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? afterScheme.endIndex
        let authority = afterScheme[..<authorityEnd]
        guard let at = authority.lastIndex(of: "@") else { return url }
        let userInfo = authority[..<at]
        let maskedInfo: String
        if let colon = userInfo.firstIndex(of: ":") {
            maskedInfo = String(userInfo[..<colon]) + ":****"
        } else {
            maskedInfo = "****"
        }
        return String(url[..<schemeEnd.upperBound]) + maskedInfo + String(url[at...])
    }
}
