#if canImport(Glibc)
import Glibc
#endif
import UpstreamTransport
@testable import Accounts

/// Small things the login tests share: free ports, scratch auth folders,
/// file modes, fake id tokens.
enum LoginTestEnv {
    static let transport = UpstreamTransport()
    static let transportOptions = TransportOptions(connectTimeout: 5, idleReadTimeout: 10, totalTimeout: 20)

    /// A TCP port on 127.0.0.1 that was free a moment ago.
    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    /// A fresh folder under /tmp; the auth directory is `<it>/auth` (not yet created).
    static func authDirectory() -> AuthDirectory {
        var template = Array("/tmp/cliproxy-login-XXXXXX".utf8CString)
        let dir = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
        return AuthDirectory(path: dir + "/auth")
    }

    /// Permission bits of a path.
    static func mode(_ path: String) -> Int {
        var st = stat()
        guard stat(path, &st) == 0 else { return -1 }
        return Int(st.st_mode & 0o777)
    }

    /// An unsigned JWT with `claims` as its payload.
    static func idToken(_ claims: String) -> String {
        "eyJhbGciOiJub25lIn0." + PKCE.base64URL(Array(claims.utf8)) + ".c2ln"
    }

    static func written(_ result: LoginResult) -> CredentialFile? {
        guard let bytes = AuthDirectory(path: String(result.path[..<result.path.lastIndex(of: "/")!])).read(result.file.name) else { return nil }
        return try? CredentialFile.parse(name: result.file.name, bytes: bytes).get()
    }
}
