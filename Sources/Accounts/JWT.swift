import FoundationEssentials

/// Reads the claims of a JSON Web Token (an OAuth `id_token`) without
/// checking its signature: the token came straight from the provider's token
/// endpoint over TLS, and only identity facts (email, account id) are taken
/// from it, never authorisation decisions.
public enum JWT {
    /// The payload (middle part) of `token` as JSON, or nil when the token
    /// does not have three dot-separated parts or the middle one is not
    /// base64url-encoded JSON.
    public static func payload(_ token: String) -> JSONValue? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let bytes = base64URLDecode(parts[1]) else { return nil }
        return JSONValue.parse(bytes)
    }

    /// Decodes base64url text (padding optional); nil on any other character.
    static func base64URLDecode(_ text: Substring) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count * 3 / 4)
        var acc: UInt32 = 0
        var bits = 0
        for c in text.utf8 {
            let v: UInt8
            switch c {
            case 0x41...0x5A: v = c - 0x41          // A-Z
            case 0x61...0x7A: v = c - 0x61 + 26     // a-z
            case 0x30...0x39: v = c - 0x30 + 52     // 0-9
            case 0x2D, 0x2B: v = 62                 // - (and + from plain base64)
            case 0x5F, 0x2F: v = 63                 // _ (and /)
            case 0x3D: continue                     // = padding
            default: return nil
            }
            acc = (acc << 6) | UInt32(v)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8((acc >> UInt32(bits)) & 0xFF))
            }
        }
        return out
    }
}
