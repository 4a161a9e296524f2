import Crypto
import Hummingbird
import HTTPTypes
import Logging
import ProxyConfig
import RuleEngine
import Synchronization

/// Who may call the management API (`/v0/management/*`).
///
/// Order of checks, each answering with the reference's error shape:
/// 1. `remote-management.secret-key` empty (or refused, see ``ManagementKey``)
///    → bare `404`: the API does not exist. Checked on every request, so a
///    reload that clears the key disables the API at once.
/// 2. A peer that is not loopback while `allow-remote` is false → `403
///    {"error":"remote management disabled"}`.
/// 3. An address locked out → `403 {"error":"IP banned due to too many failed
///    attempts. Try again in 4m12s"}` with `Retry-After`.
/// 4. No key → `401 {"error":"missing management key"}`; a wrong one → `401
///    {"error":"invalid management key"}`. Both count as failures.
///
/// Lockout policy (ours; the reference bans remote addresses only, for 30 min):
/// **5 failures in a row from one address lock it out for 5 minutes**, loopback
/// included (a local web page or process can guess too). A success resets the
/// count; so does the end of a lockout. While locked out, even the right key is
/// refused, and no bcrypt work is done.
///
/// The key is read from `Authorization: Bearer <key>` (a value without
/// `Bearer ` is taken whole), else `X-Management-Key`. It is never logged or
/// echoed. A verified key is remembered as its SHA-256 so that later requests
/// skip the ~80 ms bcrypt check.
final class ManagementAuth: Sendable {
    /// Failures that trigger a lockout.
    let failureLimit: Int
    /// How long a lockout lasts, in seconds.
    let lockoutSeconds: Double
    /// Unix seconds now (tests inject their own).
    let clock: @Sendable () -> Double

    /// Failures and lockout end per address.
    struct Record { var failures = 0; var lockedUntil: Double? = nil }
    private let records = Mutex<[String: Record]>([:])
    /// SHA-256 of keys verified against a stored hash, by that hash.
    private let verified = Mutex<[String: [UInt8]]>([:])

    init(failureLimit: Int = 5, lockoutSeconds: Double = 300, clock: @escaping @Sendable () -> Double = { Double(Clock.unixSeconds()) }) {
        self.failureLimit = failureLimit
        self.lockoutSeconds = lockoutSeconds
        self.clock = clock
    }

    /// The outcome of a check.
    enum Decision: Equatable {
        case allow
        /// Status, JSON error message (nil: no body), seconds for `Retry-After`.
        case deny(status: Int, error: String?, retryAfter: Int?)
    }

    /// Steps 1 and 2: is the API on, and may this peer use it at all?
    /// (Pure, so it is unit-tested for non-loopback peers the test harness cannot fake.)
    static func gate(enabled: Bool, peerIsLoopback: Bool, allowRemote: Bool) -> Decision {
        if !enabled { return .deny(status: 404, error: nil, retryAfter: nil) }
        if !peerIsLoopback && !allowRemote { return .deny(status: 403, error: "remote management disabled", retryAfter: nil) }
        return .allow
    }

    /// The whole check for one request.
    func check(key: ManagementKey?, peer: String, peerIsLoopback: Bool, allowRemote: Bool, presented: String?) -> Decision {
        let gate = Self.gate(enabled: key != nil, peerIsLoopback: peerIsLoopback, allowRemote: allowRemote)
        guard gate == .allow, let key else { return gate }
        let now = clock()
        if let until = records.withLock({ r -> Double? in
            guard let u = r[peer]?.lockedUntil else { return nil }
            if u > now { return u }
            r[peer] = nil  // the lockout is over: start counting afresh
            return nil
        }) {
            let left = Int((until - now).rounded(.up))
            return .deny(status: 403, error: "IP banned due to too many failed attempts. Try again in \(Self.duration(left))", retryAfter: left)
        }
        guard let presented, !presented.isEmpty else {
            fail(peer, now: now)
            return .deny(status: 401, error: "missing management key", retryAfter: nil)
        }
        guard verify(presented, against: key) else {
            fail(peer, now: now)
            return .deny(status: 401, error: "invalid management key", retryAfter: nil)
        }
        records.withLock { _ = $0.removeValue(forKey: peer) }
        return .allow
    }

    private func fail(_ peer: String, now: Double) {
        records.withLock { r in
            var rec = r[peer] ?? Record()
            rec.failures += 1
            if rec.failures >= failureLimit { rec.lockedUntil = now + lockoutSeconds }
            r[peer] = rec
        }
    }

    private func verify(_ presented: String, against key: ManagementKey) -> Bool {
        switch key {
        case .plaintext(let secret):
            // Only until the hash is written back (e.g. a read-only config file).
            return presented.utf8.count <= Bcrypt.maxKeyBytes && secret.matches(presented)
        case .hash(let hash):
            let digest = Array(SHA256.hash(data: Array(presented.utf8)))
            if let known = verified.withLock({ $0[hash] }), Self.equal(known, digest) { return true }
            guard Bcrypt.verify(presented, hash: hash) else { return false }
            verified.withLock { $0 = [hash: digest] }
            return true
        }
    }

    static func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var d: UInt8 = 0
        for i in 0..<a.count { d |= a[i] ^ b[i] }
        return d == 0
    }

    /// `4m12s`, `59s`.
    static func duration(_ seconds: Int) -> String {
        seconds >= 60 ? "\(seconds / 60)m\(seconds % 60)s" : "\(seconds)s"
    }

    /// The key a request presents: `Authorization` first, then `X-Management-Key`.
    static func presentedKey(_ request: Request) -> String? {
        if let auth = request.headers[.authorization], !auth.isEmpty {
            let lower = auth.lowercased()
            return lower.hasPrefix("bearer ") ? String(auth.dropFirst(7)).trimmingSpaces : auth
        }
        if let name = HTTPField.Name("X-Management-Key"), let v = request.headers[name] { return v }
        return nil
    }
}

/// The management key as configured: a bcrypt hash (the normal case once
/// the server has started), or plaintext not yet written back.
///
/// Keys longer than 72 bytes are **refused**, not pre-hashed: bcrypt would use
/// only their first 72 bytes, and a pre-hash would make the stored hash
/// unusable by other tools that read the same config.yaml. A refused key
/// leaves the management API disabled (404) and is reported in the log
/// (without the key).
enum ManagementKey: Equatable {
    case hash(String)
    case plaintext(Secret)

    /// The usable key of a config, nil when the API is disabled.
    static func of(_ config: ProxyConfig) -> ManagementKey? {
        let k = config.remoteManagement.secretKey
        if k.isEmpty { return nil }
        if Bcrypt.isHash(k.revealed) { return .hash(k.revealed) }
        if k.revealed.utf8.count > Bcrypt.maxKeyBytes { return nil }
        return .plaintext(k)
    }

    /// When config.yaml holds a plaintext key: hashes it (bcrypt `$2b$`, cost
    /// 10) and writes the hash over that scalar only, atomically. Returns the
    /// hash (nil when there was nothing to do or it failed; the reason is logged).
    @discardableResult
    static func secure(configPath: String, config: ProxyConfig, logger: Logger) -> String? {
        let key = config.remoteManagement.secretKey
        guard !key.isEmpty, !Bcrypt.isHash(key.revealed) else { return nil }
        let hash: String
        do {
            hash = try Bcrypt.hash(key.revealed)
        } catch {
            logger.error("remote-management.secret-key in \(configPath) is not usable: \(error); the management API stays disabled until it is replaced")
            return nil
        }
        return ConfigFile.withLock { () -> String? in
            guard let text = ConfigFile.read(configPath) else {
                logger.error("cannot read \(configPath) to store the management key's hash; the key stays plaintext in the file")
                return nil
            }
            var editor = ConfigEditor(text: text)
            do {
                // Only when the file still holds that same plaintext key.
                guard case .success(let (onDisk, _)) = ProxyConfig.parse(text, file: configPath),
                      onDisk.remoteManagement.secretKey == key else { return nil }
                try editor.set(["remote-management", "secret-key"], .string(hash))
                try ConfigFile.write(configPath, editor.text)
                logger.notice("remote-management.secret-key hashed with bcrypt and written back to \(configPath)")
                return hash
            } catch {
                logger.error("cannot store the management key's hash in \(configPath): \(error); the key stays plaintext in the file")
                return nil
            }
        }
    }
}
