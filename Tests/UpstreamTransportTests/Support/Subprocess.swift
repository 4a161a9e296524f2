// Spawning helper processes (openssl, python3, node) without Foundation.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A child process with a pipe on its stdin (closing it tells the test
/// servers to exit) and one on its stdout.
final class ChildProcess: @unchecked Sendable {
    let pid: pid_t
    private var stdinFD: Int32
    private var reaped = false
    private var reapedStatus: Int32 = 0
    let stdoutFD: Int32

    /// Starts `argv[0]`, searched on PATH. Nil when it cannot be started.
    init?(_ argv: [String]) {
        var inPipe: [Int32] = [0, 0], outPipe: [Int32] = [0, 0]
        guard pipe(&inPipe) == 0, pipe(&outPipe) == 0 else { return nil }
        // Only the dup2'ed copies reach the child (others spawned meanwhile get none).
        for fd in inPipe + outPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        for fd in inPipe + outPipe { posix_spawn_file_actions_addclose(&actions, fd) }
        var cargs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) }
        cargs.append(nil)
        defer { for p in cargs { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawnp(&pid, argv[0], &actions, nil, cargs, environ)
        close(inPipe[0])
        close(outPipe[1])
        guard rc == 0 else {
            close(inPipe[1]); close(outPipe[0])
            return nil
        }
        self.pid = pid
        stdinFD = inPipe[1]
        stdoutFD = outPipe[0]
    }

    /// One line of the child's stdout, waiting up to `timeout` seconds.
    func readLine(timeout: Double = 15) -> String? {
        var line: [UInt8] = []
        let end = now() + timeout
        while now() < end {
            guard waitReadable(stdoutFD, ms: 100) else { continue }
            var b: UInt8 = 0
            let n = read(stdoutFD, &b, 1)
            if n <= 0 { return nil }
            if b == 10 { return String(decoding: line, as: UTF8.self) }
            line.append(b)
        }
        return nil
    }

    /// Exit status after the child ended on its own.
    func wait() -> Int32 {
        guard !reaped else { return reapedStatus }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        closeStdin()
        close(stdoutFD)
        reaped = true
        reapedStatus = (status >> 8) & 0xFF
        return reapedStatus
    }

    /// Writes one line to the child's stdin.
    func writeLine(_ line: String) {
        let bytes = Array((line + "\n").utf8)
        _ = bytes.withUnsafeBytes { write(stdinFD, $0.baseAddress, $0.count) }
    }

    func closeStdin() {
        if stdinFD >= 0 { close(stdinFD); stdinFD = -1 }
    }

    /// Ends a child (SIGKILL: the test runner may have SIGTERM blocked, and that is inherited).
    /// A no-op once the child was waited for, so tests can `defer` it: a
    /// failed expectation must not leave a child holding the runner's pipes.
    func terminate() {
        guard !reaped else { return }
        reaped = true
        closeStdin()
        kill(pid, SIGKILL)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        close(stdoutFD)
    }
}

/// Runs a command to completion; its exit status (or -1 if it could not start).
func run(_ argv: [String]) -> Int32 {
    guard let p = ChildProcess(argv) else { return -1 }
    p.closeStdin()
    return p.wait()
}

/// True when `name` can be found on PATH.
func commandExists(_ name: String) -> Bool {
    run(["sh", "-c", "command -v \(name) >/dev/null 2>&1"]) == 0
}

/// A fresh directory under /tmp.
func makeTempDir() -> String {
    var template = Array("/tmp/upstream-transport-XXXXXX".utf8CString)
    let p = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    precondition(p != nil, "mkdtemp failed")
    return String(cString: p!)
}

/// A self-signed certificate for 127.0.0.1 / localhost: (certPath, keyPath).
func makeSelfSignedCertificate(in dir: String) -> (cert: String, key: String)? {
    let cert = dir + "/cert.pem", key = dir + "/key.pem"
    let rc = run([
        "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
        "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
    ])
    return rc == 0 ? (cert, key) : nil
}

/// The directory of this test target's sources (for the helper scripts).
func testSourceDirectory(_ file: String = #filePath) -> String {
    var parts = file.split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast()  // Subprocess.swift
    parts.removeLast()  // Support
    return parts.joined(separator: "/")
}

func removeTree(_ dir: String) {
    guard dir.hasPrefix("/tmp/upstream-transport-") else { return }
    _ = run(["rm", "-rf", dir])
}

/// Runs blocking work (spawning, waiting for a child) on a thread of its own,
/// so that it does not hold one of the few cooperative threads other tests
/// need meanwhile.
func offPool<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { c in
        spawnThread { c.resume(returning: body()) }
    }
}
