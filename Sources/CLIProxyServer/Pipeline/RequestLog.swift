import Synchronization
import UpstreamTransport
import RuleEngine
#if canImport(Glibc)
import Glibc
#endif

/// `request-log: true`: each exchange written to `logs/<time>-<id>.log` — the
/// client's request, the upstream request (credentials redacted), the
/// upstream's answer and the client's. Off by default.
final class RequestLog: Sendable {
    let directory: String?

    init(directory: String?) {
        self.directory = directory
        if let directory { FileSystem.makeDirectories(directory) }
    }

    func begin(id: String, endpoint: String, clientBody: [UInt8], clientHeaders: [(String, String)]) -> Entry? {
        guard let directory else { return nil }
        let e = Entry(path: "\(directory)/\(Clock.unixSeconds())-\(id).log")
        e.section("client request \(endpoint)", headers: clientHeaders, body: clientBody)
        return e
    }

    /// One exchange's file, appended to as the exchange goes.
    final class Entry: Sendable {
        let path: String
        private let lock = Mutex(())

        init(path: String) { self.path = path }

        static let secretHeaders: Set<String> = ["authorization", "x-api-key", "x-goog-api-key", "cookie", "set-cookie", "proxy-authorization", "x-management-key"]

        func section(_ title: String, headers: [(String, String)] = [], body: [UInt8]) {
            var text = "=== \(title)\n"
            for (k, v) in headers { text += "\(k): \(Self.secretHeaders.contains(k.lowercased()) ? "[redacted]" : v)\n" }
            text += "\n" + String(decoding: body, as: UTF8.self) + "\n\n"
            append(text)
        }

        func upstreamRequest(_ r: UpstreamRequest) {
            section("upstream request \(r.method) \(Self.redactQuery(r.url))", headers: r.headers, body: r.body)
        }
        func upstreamResponse(status: Int, body: [UInt8]) { section("upstream response \(status)", body: body) }
        func clientResponse(status: Int, body: [UInt8]) { section("client response \(status)", body: body) }
        func note(_ s: String) { append("=== \(s)\n\n") }

        /// `?key=…` and similar query credentials never reach the file.
        static func redactQuery(_ url: String) -> String {
            guard let q = url.firstIndex(of: "?") else { return url }
            let parts = url[url.index(after: q)...].split(separator: "&").map { p -> String in
                let kv = p.split(separator: "=", maxSplits: 1)
                let k = kv.first.map(String.init) ?? ""
                return ["key", "api_key", "access_token", "auth_token"].contains(k.lowercased()) ? "\(k)=[redacted]" : String(p)
            }
            return String(url[...q]) + parts.joined(separator: "&")
        }

        private func append(_ s: String) {
            lock.withLock { _ in
                guard let f = fopen(path, "ab") else { return }
                var t = s
                t.withUTF8 { _ = fwrite($0.baseAddress, 1, $0.count, f) }
                fclose(f)
            }
        }
    }
}
