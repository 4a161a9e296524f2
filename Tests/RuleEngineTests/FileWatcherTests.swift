import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import RuleEngine

/// The watcher reports a file when its writer is done with it — closed, or
/// renamed into place — never while it is being written: a reload must not
/// read a config caught half-written (found by `reliability.py reload`).
@Suite struct FileWatcherTests {
    static func temporaryFolder() -> String {
        var template = Array("/tmp/cliproxy-watch-XXXXXX".utf8CString)
        return template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
    }

    /// What the watcher reported until it reported `path`, or for 30 s (a
    /// loaded machine delays the watcher thread).
    static func reports(of path: String, from watcher: FileWatcher) async throws -> Set<String> {
        var seen: Set<String> = []
        for _ in 0..<1500 where !seen.contains(path) {
            try await Task.sleep(for: .milliseconds(20))
            seen.formUnion(watcher.drain())
        }
        return seen
    }

    @Test func aFileIsReportedWhenClosedNotWhileWritten() async throws {
        let dir = Self.temporaryFolder()
        defer { FileSystem.removeTree(dir) }
        let watcher = FileWatcher()
        defer { watcher.stop() }
        watcher.watch(dir)
        let path = dir + "/config.yaml"

        // Created and half written, still open: nothing yet.
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        try #require(fd >= 0)
        var head = Array("port: 8317\nopenai-compatibility:\n".utf8)
        #expect(write(fd, &head, head.count) == head.count)
        try await Task.sleep(for: .milliseconds(400))
        #expect(watcher.drain().isEmpty, "reported while still being written")

        // More writes, then the close: now it is reported.
        var rest = Array("  - name: x\n".utf8)
        #expect(write(fd, &rest, rest.count) == rest.count)
        try await Task.sleep(for: .milliseconds(400))
        #expect(watcher.drain().isEmpty)
        close(fd)
        var seen = try await Self.reports(of: path, from: watcher)
        #expect(seen.contains(path), "\(seen)")
        #expect(watcher.beingWritten([path]).isEmpty, "closed, so no longer being written")

        // Saved again in place: between the truncate and the close it is
        // being written (a reload woken by the last close must not read it).
        let again = open(path, O_WRONLY | O_TRUNC)
        try #require(again >= 0)
        var marked = false
        for _ in 0..<1500 where !marked {
            try await Task.sleep(for: .milliseconds(20))
            marked = watcher.beingWritten([path, dir + "/other"]) == [path]
        }
        #expect(marked, "a truncated file still open is marked as being written")
        #expect(watcher.drain().isEmpty, "and not reported")
        close(again)
        seen = try await Self.reports(of: path, from: watcher)
        #expect(seen.contains(path) && watcher.beingWritten([path]).isEmpty)

        // Renamed into place (an atomic save): reported too.
        FileSystem.write(dir + "/.tmp", "port: 8318\n")
        _ = watcher.drain()
        #expect(rename(dir + "/.tmp", path) == 0)
        seen = try await Self.reports(of: path, from: watcher)
        #expect(seen.contains(path), "\(seen)")
    }

    /// A folder watched without `markWrites` (the auth directory, where the
    /// usage database writes all the time) never marks its files as being
    /// written; their close is still reported.
    @Test func aFolderWatchedWithoutMarkingWritesIgnoresWrites() async throws {
        let dir = Self.temporaryFolder()
        defer { FileSystem.removeTree(dir) }
        let watcher = FileWatcher()
        defer { watcher.stop() }
        watcher.watch(dir, markWrites: false)
        let path = dir + "/usage.db"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        try #require(fd >= 0)
        var bytes = Array("written, still open".utf8)
        #expect(write(fd, &bytes, bytes.count) == bytes.count)
        try await Task.sleep(for: .milliseconds(400))
        #expect(watcher.beingWritten([path]).isEmpty)
        close(fd)
        let seen = try await Self.reports(of: path, from: watcher)
        #expect(seen.contains(path), "\(seen)")
    }
}
