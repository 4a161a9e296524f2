#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The few file operations the engine needs, on POSIX calls (the engine does
/// not link Foundation).
public enum FileSystem {
    public static func absolute(_ path: String) -> String {
        var p = path
        if p.hasPrefix("~/"), let home = getenv("HOME") { p = String(cString: home) + p.dropFirst(1) }
        if p.hasPrefix("/") { return normalize(p) }
        var buf = [CChar](repeating: 0, count: 4096)
        guard getcwd(&buf, buf.count) != nil else { return p }
        return normalize(String(decoding: buf.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self) + "/" + p)
    }

    /// Removes `.` and `..` segments and duplicate slashes.
    static func normalize(_ p: String) -> String {
        var parts: [Substring] = []
        for seg in p.split(separator: "/", omittingEmptySubsequences: true) {
            if seg == "." { continue }
            if seg == ".." { if !parts.isEmpty { parts.removeLast() }; continue }
            parts.append(seg)
        }
        return "/" + parts.joined(separator: "/")
    }

    public static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    public static func exists(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0
    }

    /// Modification time in nanoseconds, or nil when missing.
    public static func modificationTime(_ path: String) -> Int? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return Int(st.st_mtim.tv_sec) * 1_000_000_000 + Int(st.st_mtim.tv_nsec)
    }

    /// Names in a directory (no `.` and `..`), unsorted.
    public static func list(_ path: String) -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let ent = readdir(dir) {
            let name = withUnsafePointer(to: ent.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Every file below `root`, as paths relative to it, sorted.
    public static func walk(_ root: String) -> [String] {
        var out: [String] = []
        func visit(_ rel: String) {
            let full = rel.isEmpty ? root : root + "/" + rel
            for name in list(full) where !name.hasPrefix(".") {
                let r = rel.isEmpty ? name : rel + "/" + name
                if isDirectory(root + "/" + r) { visit(r) } else { out.append(r) }
            }
        }
        visit("")
        return out.sorted()
    }

    /// Creates a directory and its missing parents.
    public static func makeDirectories(_ path: String) {
        var prefix = ""
        for seg in absolute(path).split(separator: "/") {
            prefix += "/" + seg
            if !isDirectory(prefix) { mkdir(prefix, 0o755) }
        }
    }

    /// Deletes a folder and everything in it (no links are followed).
    public static func removeTree(_ path: String) {
        for name in list(path) {
            let p = path + "/" + name
            var st = stat()
            if lstat(p, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR { removeTree(p) } else { unlink(p) }
        }
        rmdir(path)
    }

    public static func readBytes(_ path: String) -> [UInt8]? {
        guard let f = fopen(path, "rb") else { return nil }
        defer { fclose(f) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&buf, 1, buf.count, f)
            if n > 0 { out.append(contentsOf: buf[0..<n]) }
            if n < buf.count { break }
        }
        return ferror(f) == 0 ? out : nil
    }

    public static func readText(_ path: String) -> String? {
        readBytes(path).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Writes atomically: a temporary file in the same directory, then rename.
    @discardableResult
    public static func write(_ path: String, _ bytes: [UInt8]) -> Bool {
        let tmp = path + ".tmp-\(getpid())"
        guard let f = fopen(tmp, "wb") else { return false }
        let n = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) }
        let ok = n == bytes.count && fflush(f) == 0
        fclose(f)
        guard ok, rename(tmp, path) == 0 else { unlink(tmp); return false }
        return true
    }

    public static func write(_ path: String, _ text: String) -> Bool { write(path, Array(text.utf8)) }
}
