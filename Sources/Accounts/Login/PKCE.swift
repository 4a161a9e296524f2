import Crypto

/// Proof Key for Code Exchange (RFC 7636, method S256) and the other random
/// values a login needs. The verifier is a secret: it never goes into a
/// message.
struct PKCE: Sendable, Equatable {
    /// Random bytes, base64url without padding.
    var verifier: String
    /// base64url(SHA-256(verifier)), without padding.
    var challenge: String

    /// A fresh pair from `byteCount` random bytes (96 for the browser
    /// flows, 32 for Qwen's device flow).
    static func make(byteCount: Int) -> PKCE {
        let verifier = base64URL(randomBytes(byteCount))
        return PKCE(verifier: verifier, challenge: challenge(for: verifier))
    }

    /// The S256 challenge of a verifier.
    static func challenge(for verifier: String) -> String {
        base64URL(Array(SHA256.hash(data: Array(verifier.utf8))))
    }

    /// An OAuth `state`: 16 random bytes as lower-case hex.
    static func randomState() -> String {
        let digits = Array("0123456789abcdef")
        return String(randomBytes(16).flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 0xF)]] })
    }

    static func randomBytes(_ count: Int) -> [UInt8] {
        var rng = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &rng) }
    }

    /// base64url (RFC 4648 §5) without padding.
    static func base64URL(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        var out = ""
        out.reserveCapacity((bytes.count * 4 + 2) / 3)
        var i = 0
        while i < bytes.count {
            let n = min(3, bytes.count - i)
            let b0 = UInt32(bytes[i]), b1 = n > 1 ? UInt32(bytes[i + 1]) : 0, b2 = n > 2 ? UInt32(bytes[i + 2]) : 0
            let v = b0 << 16 | b1 << 8 | b2
            out.append(alphabet[Int(v >> 18 & 63)])
            out.append(alphabet[Int(v >> 12 & 63)])
            if n > 1 { out.append(alphabet[Int(v >> 6 & 63)]) }
            if n > 2 { out.append(alphabet[Int(v & 63)]) }
            i += 3
        }
        return out
    }
}
