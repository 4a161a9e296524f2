import Synchronization
import UpstreamTransport
import RuleEngine
#if canImport(Glibc)
import Glibc
#endif

/// Exchange logs in `logs/` beside config.yaml.
///
/// With `request-log: true` (read per request, so the management toggle
/// takes effect at once) each exchange is written to `logs/<time>-<id>.log`
/// as it goes — the client's request, the upstream request (credentials
/// redacted), the upstream's answer and the client's — and the folder is
/// kept under `maxTotalBytes` by deleting the oldest exchange files.
///
/// With it off, an exchange is still noted in memory (bodies cut to 64 KiB)
/// and written only when it ends in an error (`logs/error-<time>-<id>.log`):
/// the exchanges worth reading after the fact. The newest `keptErrors` stay.
final class RequestLog: Sendable {
    let directory: String
    let store: ServerStateStore
    static let maxTotalBytes = 256 << 20
    static let keptErrors = 100
    /// Exchange files written since the folder was last pruned.
    private let sincePrune = Atomic<Int>(0)

    init(directory: String, store: ServerStateStore) {
        self.directory = directory
        self.store = store
    }

    func begin(id: String, endpoint: String, clientBody: [UInt8], clientHeaders: [(String, String)]) -> Entry {
        let full = store.state.config.requestLog
        if full { FileSystem.makeDirectories(directory) }
        let e = Entry(path: "\(directory)/\(full ? "" : "error-")\(Clock.unixSeconds())-\(id).log", toFile: full)
        e.section("client request \(endpoint)", headers: clientHeaders, body: clientBody)
        return e
    }

    /// The exchange ended with `status`: an error exchange noted in memory
    /// is written now; the folder is pruned now and then.
    func finish(_ e: Entry, status: Int) {
        if e.toFile {
            if sincePrune.add(1, ordering: .relaxed).newValue >= 64 { sincePrune.store(0, ordering: .relaxed); prune(prefix: nil, keep: nil) }
            return
        }
        guard status >= 400 else { return }
        e.note("client got status \(status)")
        FileSystem.makeDirectories(directory)
        e.flush()
        prune(prefix: "error-", keep: Self.keptErrors)
    }

    /// Deletes the oldest files: error files beyond `keep`, or exchange files
    /// (all but `error-` ones) beyond `maxTotalBytes`. Names start with the
    /// Unix time, so name order is age order.
    func prune(prefix: String?, keep: Int?) {
        var files = FileSystem.list(directory).filter { $0.hasSuffix(".log") && (prefix.map($0.hasPrefix) ?? !$0.hasPrefix("error-")) }
        files.sort()
        if let keep {
            for name in files.dropLast(keep) { unlink(directory + "/" + name) }
            return
        }
        var sizes = files.map { name -> Int in
            var st = stat()
            return stat(directory + "/" + name, &st) == 0 ? Int(st.st_size) : 0
        }
        var total = sizes.reduce(0, +), i = 0
        while total > Self.maxTotalBytes && i < files.count {
            unlink(directory + "/" + files[i]); total -= sizes[i]; sizes[i] = 0; i += 1
        }
    }

    /// One exchange's record: appended to its file as the exchange goes, or
    /// kept in memory until `flush` (error logs).
    final class Entry: Sendable {
        let path: String
        let toFile: Bool
        private let pending = Mutex<[String]>([])
        private let lock = Mutex(())
        static let memoryBodyLimit = 64 << 10

        init(path: String, toFile: Bool) { self.path = path; self.toFile = toFile }

        static let secretHeaders: Set<String> = ["authorization", "x-api-key", "x-goog-api-key", "cookie", "set-cookie", "proxy-authorization", "x-management-key"]

        func section(_ title: String, headers: [(String, String)] = [], body: [UInt8]) {
            var text = "=== \(title)\n"
            for (k, v) in headers { text += "\(k): \(Self.secretHeaders.contains(k.lowercased()) ? "[redacted]" : v)\n" }
            let shown = toFile || body.count <= Self.memoryBodyLimit ? body[...] : body[..<Self.memoryBodyLimit]
            text += "\n" + String(decoding: shown, as: UTF8.self)
            if shown.count < body.count { text += "\n[… \(body.count - shown.count) more bytes]" }
            append(text + "\n\n")
        }

        /// Writes what was kept in memory (error logs).
        func flush() {
            let text = pending.withLock { p in defer { p = [] }; return p.joined() }
            write(text)
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
            if toFile { write(s) } else { pending.withLock { $0.append(s) } }
        }

        private func write(_ s: String) {
            lock.withLock { _ in
                guard let f = fopen(path, "ab") else { return }
                var t = s
                t.withUTF8 { _ = fwrite($0.baseAddress, 1, $0.count, f) }
                fclose(f)
            }
        }
    }
}
