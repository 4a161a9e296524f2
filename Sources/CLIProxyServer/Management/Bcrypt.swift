import CCrypt
#if canImport(Glibc)
import Glibc
#endif

/// bcrypt through libxcrypt (`crypt_gensalt_rn` + `crypt_rn`), for the
/// management key stored in config.yaml.
///
/// bcrypt reads only the first 72 bytes of a key: a longer key would verify
/// against any key sharing its first 72 bytes. This wrapper never truncates
/// silently — ``hash(_:cost:)`` refuses keys longer than ``maxKeyBytes`` and
/// ``verify(_:hash:)`` answers false for them.
enum Bcrypt {
    /// The longest key bcrypt uses in full.
    static let maxKeyBytes = 72
    /// The default cost (2^10 rounds, about 80 ms here).
    static let defaultCost = 10

    /// Why a key cannot be hashed.
    enum Failure: Error, Equatable, CustomStringConvertible {
        case keyTooLong(bytes: Int)
        case empty
        case library
        var description: String {
            switch self {
            case .keyTooLong(let n): return "the key is \(n) bytes long; bcrypt uses only the first \(Bcrypt.maxKeyBytes), so it is refused"
            case .empty: return "the key is empty"
            case .library: return "libxcrypt could not hash the key"
            }
        }
    }

    /// True for `$2a$`, `$2b$` and `$2y$` hashes.
    static func isHash(_ s: String) -> Bool {
        s.hasPrefix("$2a$") || s.hasPrefix("$2b$") || s.hasPrefix("$2y$")
    }

    /// A new `$2b$` hash of `key` with a random salt from the OS.
    static func hash(_ key: String, cost: Int = defaultCost) throws(Failure) -> String {
        let n = key.utf8.count
        if n == 0 { throw .empty }
        if n > maxKeyBytes { throw .keyTooLong(bytes: n) }
        var setting = [CChar](repeating: 0, count: Int(CRYPT_GENSALT_OUTPUT_SIZE))
        guard crypt_gensalt_rn("$2b$", UInt(cost), nil, 0, &setting, Int32(setting.count)) != nil else { throw .library }
        guard let out = crypt(key, setting: setting) else { throw .library }
        return out
    }

    /// True when `key` hashes to `hash` (constant-time comparison). False for
    /// keys over 72 bytes, empty keys, and malformed hashes.
    static func verify(_ key: String, hash: String) -> Bool {
        let n = key.utf8.count
        guard n > 0, n <= maxKeyBytes, isHash(hash) else { return false }
        guard let out = crypt(key, setting: Array(hash.utf8CString)) else { return false }
        let a = Array(out.utf8), b = Array(hash.utf8)
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for i in 0..<a.count { diff |= a[i] ^ b[i] }
        return diff == 0
    }

    /// `crypt_rn` with its 32 KiB work area on the heap; nil on failure.
    private static func crypt(_ key: String, setting: [CChar]) -> String? {
        let size = MemoryLayout<crypt_data>.size
        let data = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: MemoryLayout<crypt_data>.alignment)
        defer {
            memset(data, 0, size)  // the work area held the key
            data.deallocate()
        }
        memset(data, 0, size)
        let typed = data.bindMemory(to: crypt_data.self, capacity: 1)
        guard let p = crypt_rn(key, setting, typed, Int32(size)) else { return nil }
        let s = String(cString: p)
        return s.hasPrefix("*") ? nil : s
    }
}
