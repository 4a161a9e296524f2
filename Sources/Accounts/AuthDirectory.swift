#if canImport(Glibc)
import Glibc
#endif

/// The auth directory (`auth-dir`): one JSON credential file per account.
/// Only top-level `*.json` files are read. Files are written atomically —
/// a temporary file in the same folder, mode 0600, flushed, then renamed
/// over the target — and the folder is created with mode 0700, so a reader
/// (this server's watcher, or another tool) never sees half a file and no
/// other user can read the tokens.
public struct AuthDirectory: Sendable {
    public let path: String

    public init(path: String) { self.path = path }

    /// An error writing a credential file, naming the file and the system's reason.
    public struct WriteError: Error, Sendable, CustomStringConvertible {
        public var path: String
        public var reason: String
        public var description: String { "cannot write \(path): \(reason)" }
    }

    /// Creates the folder (and its parents) with mode 0700 when missing.
    public func ensureExists() throws(WriteError) {
        var built = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            built += "/" + part
            if mkdir(built, 0o700) != 0 && errno != EEXIST {
                throw WriteError(path: built, reason: String(cString: strerror(errno)))
            }
        }
    }

    /// Writes `file` as `<path>/<file.name>` atomically, mode 0600.
    public func write(_ file: CredentialFile) throws(WriteError) {
        try write(name: file.name, bytes: file.serialized())
    }

    /// Writes raw bytes as `<path>/<name>` atomically, mode 0600.
    public func write(name: String, bytes: [UInt8]) throws(WriteError) {
        guard !name.contains("/"), !name.hasPrefix(".") else { throw WriteError(path: name, reason: "not a plain file name") }
        try ensureExists()
        let target = path + "/" + name
        if let why = AtomicFile.write(target, bytes, mode: 0o600) { throw WriteError(path: target, reason: why) }
    }

    /// The names of the top-level `*.json` files, sorted.
    public func fileNames() -> [String] {
        var out: [String] = []
        for name in allNames() {
            guard name.hasSuffix(".json"), !name.hasPrefix(".") else { continue }
            var st = stat()
            if stat(path + "/" + name, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG { out.append(name) }
        }
        return out.sorted()
    }

    /// Deletes the temporary files of writes that never finished (`AtomicFile`
    /// names them `.<target>.XXXXXX`; a process killed between creating and
    /// renaming one leaves it behind). Only those older than `seconds`, so a
    /// write in progress in another process is left alone. Returns the names.
    public func removeStaleTemporaries(olderThan seconds: Int = 60) -> [String] {
        let now = time(nil)
        return allNames().filter { name in
            let parts = name.split(separator: ".", omittingEmptySubsequences: false)
            guard name.hasPrefix("."), parts.count >= 4, parts[parts.count - 2] == "json", parts.last!.count == 6 else { return false }
            var st = stat()
            guard lstat(path + "/" + name, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG,
                  Int(now - st.st_mtim.tv_sec) >= seconds else { return false }
            return unlink(path + "/" + name) == 0
        }
    }

    /// Every entry of the folder (none when it cannot be read).
    private func allNames() -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            names.append(withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            })
        }
        return names
    }

    /// The bytes of one file, or nil when it cannot be read.
    public func read(_ name: String) -> [UInt8]? {
        let fd = open(path + "/" + name, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { return nil }
            if n == 0 { return out }
            out += buf[0..<n]
        }
    }
}

/// Whole-file replacement that a reader never sees half done: a temporary
/// file beside the target with `mode`, written, flushed, then renamed over
/// it. Shared by credential files and config.yaml edits.
public enum AtomicFile {
    /// Nil on success, else the reason (strerror).
    public static func write(_ path: String, _ bytes: [UInt8], mode: mode_t) -> String? {
        let slash = path.lastIndex(of: "/")
        let dir = slash.map { String(path[..<$0]) } ?? "."
        let base = slash.map { String(path[path.index(after: $0)...]) } ?? path
        var template = Array("\(dir.isEmpty ? "/" : dir)/.\(base).XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { return String(cString: strerror(errno)) }
        let temp = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        var ok = fchmod(fd, mode) == 0
        var done = 0
        while ok && done < bytes.count {
            let n = bytes[done...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { ok = false } else { done += n }
        }
        if ok { ok = fsync(fd) == 0 }
        let reason = ok ? "" : String(cString: strerror(errno))
        close(fd)
        guard ok, rename(temp, path) == 0 else {
            let why = ok ? String(cString: strerror(errno)) : reason
            unlink(temp)
            return why
        }
        return nil
    }
}
