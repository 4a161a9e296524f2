import Accounts
import Foundation
import Logging
import RuleEngine
import Testing
import UpstreamTransport
#if canImport(Glibc)
import Glibc
#endif

/// A process killed (SIGKILL) in the middle of writing a credential file
/// leaves the old file or the new one, never a broken one: the real write
/// path (AuthDirectory → AtomicFile), in a process of its own
/// (`credential-write-probe`), killed at random moments.
@Suite(.serialized) struct CredentialCrashTests {
    static var probe: String {
        let cliproxy = LoginCommandTests.binary
        return String(cliproxy[..<cliproxy.lastIndex(of: "/")!]) + "/credential-write-probe"
    }

    @Test func killedMidWriteLeavesAWholeFile() async throws {
        let dir = makeTempDir()
        defer { removeTree(dir) }
        let name = "claude-probe@example.com.json"
        var seen: Set<String> = []
        let kills = 150
        let probe = Self.probe
        for round in 0..<kills {
            // The spawn, the wait and the kill block: off the cooperative pool (see `offPool`).
            let (started, read) = try await offPool { () -> (String?, [UInt8]?) in
                guard let child = ChildProcess([probe, dir, name]) else { return (nil, nil) }
                let line = child.readLine()
                // Writes of ~256 KB take a few hundred µs to a few ms: kill somewhere in that range.
                usleep(UInt32.random(in: 200...20_000))
                child.terminate()  // SIGKILL, then reaped
                return (line, AuthDirectory(path: dir).read(name))
            }
            #expect(started == "writing", "round \(round): the probe started")
            let bytes = try #require(read, "round \(round): the file exists")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
                                      "round \(round): \(bytes.count) bytes that are not one JSON object")
            let version = try #require(object["version"] as? String)
            let token = try #require(object["refresh_token"] as? String)
            #expect(token.count == 256 << 10 && token.allSatisfy { String($0) == version }, "round \(round): a mixed or short file")
            seen.insert(version)
        }
        // Both versions were caught on disk, so the kills landed at different points of the loop.
        #expect(seen == ["a", "b"], "\(seen)")

        // The reader lists only the file; a kill between creating the temporary and renaming it may leave one
        // behind, which the next start (an account store on the folder) removes once it is old enough.
        let directory = AuthDirectory(path: dir)
        #expect(directory.fileNames() == [name])
        let leftover = dir + "/." + name + ".Zz9Yx8"
        FileSystem.write(leftover, "{\"half\":")
        var old = [timespec(tv_sec: time(nil) - 3600, tv_nsec: 0), timespec(tv_sec: time(nil) - 3600, tv_nsec: 0)]
        #expect(utimensat(AT_FDCWD, leftover, &old, 0) == 0)
        let fresh = dir + "/." + name + ".Qq1Ww2"
        FileSystem.write(fresh, "{\"in progress\":")
        let store = AccountStore(directory: directory, specs: [:], transport: UpstreamTransport(), options: { _ in TransportOptions() },
                                 clock: { 0 }, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        _ = store
        let left = FileSystem.list(dir).filter { $0.hasPrefix(".") }
        #expect(!left.contains("." + name + ".Zz9Yx8"), "an old temporary is removed: \(left)")
        #expect(left.contains("." + name + ".Qq1Ww2"), "a fresh one (a write in progress elsewhere) stays")
    }
}
