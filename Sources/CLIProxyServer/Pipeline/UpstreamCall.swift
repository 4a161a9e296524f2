import ProxyConfig
import UpstreamTransport

/// Builds the HTTP request for one upstream call from provider data: URL from
/// the base URL and the operation's path, the credential placed where the
/// provider says, fixed and forwarded headers. No dialect knowledge.
enum UpstreamCall {
    static let userAgent = "cliproxy/\(CLIProxyInfo.version)"

    static func request(_ candidate: Candidate, operation: String, body: [UInt8], stream: Bool,
                        clientHeaders: [(String, String)]) -> UpstreamRequest? {
        let c = candidate.credential
        guard let op = c.provider.operation(operation) else { return nil }
        var url = c.baseURL + op.path.replacing("{model}", with: percentEncode(candidate.upstreamModel))
        var headers: [(String, String)] = [("content-type", "application/json"),
                                           ("accept", stream ? "text/event-stream" : "application/json"),
                                           ("user-agent", userAgent)]
        for (k, v) in c.provider.headers.sorted(by: { $0.key < $1.key }) { headers.append((k.lowercased(), v)) }
        for name in c.provider.forwardHeaders {
            for (k, v) in clientHeaders where k.lowercased() == name.lowercased() { headers.append((name.lowercased(), v)) }
        }
        let key = c.secret.revealed
        if !key.isEmpty {
            if let h = c.provider.auth.header { headers.append((h.lowercased(), key)) }
            if c.provider.auth.bearer == true { headers.append(("authorization", "Bearer " + key)) }
            if let q = c.provider.auth.query { url += (url.contains("?") ? "&" : "?") + q + "=" + percentEncode(key) }
        }
        return UpstreamRequest(method: op.method ?? (body.isEmpty ? "GET" : "POST"), url: url, headers: headers, body: body)
    }

    /// RFC 3986 unreserved characters (and `:`) stay; every other byte is %XX.
    static func percentEncode(_ s: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count)
        let hex = Array("0123456789ABCDEF".utf8)
        for b in s.utf8 {
            switch b {
            case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, 0x2D, 0x2E, 0x5F, 0x7E, 0x3A: out.append(b)
            default: out += [0x25, hex[Int(b >> 4)], hex[Int(b & 0xF)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension String {
    func leftPadded(_ n: Int) -> String { count >= n ? self : String(repeating: "0", count: n - count) + self }
}

/// The product's name and version, for `GET /`, `--version` and User-Agent.
public enum CLIProxyInfo {
    public static let name = "cliproxy"
    public static let version = "0.2.0"
}
