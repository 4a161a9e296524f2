import ProxyConfig
import UpstreamTransport

/// Builds the HTTP request for one upstream call from provider data: URL from
/// the base URL and the operation's path, the credential placed where the
/// provider says, fixed and forwarded headers. No dialect knowledge.
enum UpstreamCall {
    static let userAgent = "cliproxy/\(CLIProxyInfo.version)"

    /// `secret` is the API key or the account's access token; `patchHeaders`
    /// come from the provider patch's `headers` hook and replace same-named
    /// fixed or forwarded headers.
    static func request(_ candidate: Candidate, operation: String, body: [UInt8], stream: Bool,
                        clientHeaders: [(String, String)], secret: String,
                        patchHeaders: [(String, String)] = []) -> UpstreamRequest? {
        let c = candidate.credential
        guard let op = c.provider.operation(operation) else { return nil }
        var url = c.baseURL + op.path.replacing("{model}", with: percentEncode(candidate.upstreamModel))
        var headers: [(String, String)] = [("content-type", "application/json"),
                                           ("accept", stream ? "text/event-stream" : "application/json"),
                                           ("user-agent", userAgent)]
        func set(_ name: String, _ value: String) {
            let n = name.lowercased()
            headers.removeAll { $0.0 == n }
            headers.append((n, value))
        }
        for (k, v) in c.provider.headers.sorted(by: { $0.key < $1.key }) { set(k, v) }
        for name in c.provider.forwardHeaders {
            for (k, v) in clientHeaders where k.lowercased() == name.lowercased() { set(name, v) }
        }
        for (k, v) in c.extraHeaders.sorted(by: { $0.key < $1.key }) { set(k, v) }
        for (k, v) in patchHeaders { set(k, v) }
        if !secret.isEmpty {
            if let h = c.provider.auth.header { set(h, secret) }
            if c.provider.auth.bearer == true { set("authorization", "Bearer " + secret) }
            if let q = c.provider.auth.query { url += (url.contains("?") ? "&" : "?") + q + "=" + percentEncode(secret) }
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
