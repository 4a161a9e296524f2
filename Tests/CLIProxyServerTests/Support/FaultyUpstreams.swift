// Upstreams that misbehave below HTTP, for the fault tests: a scripted raw
// HTTP/1.1 server (resets, stalls, slow heads, close-delimited bodies) and a
// TLS server whose certificate nobody trusts. 127.0.0.1 only.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// A raw HTTP/1.1 server that reads each request and then plays a script on
/// its socket, one connection per request (`Connection: close`).
final class ScriptedUpstream: @unchecked Sendable {
    enum Step: Sendable {
        /// Bytes written as they are.
        case write([UInt8])
        /// A pause before the next step.
        case pause(ms: Int)
        /// Close with an RST (abortive close); ends the script.
        case reset
    }
    /// Steps for one request (its head and body). When the script ends
    /// without `.reset` the connection is closed normally (FIN).
    typealias Script = @Sendable (SeenRequest) -> [Step]

    let port: Int
    var url: String { "http://127.0.0.1:\(port)" }
    /// Requests read so far.
    let requests = Atomic<Int>(0)
    private let listenFD: Int32
    private let sockets = SocketRegistry()
    private let script: Script

    init(_ script: @escaping Script) {
        self.script = script
        (listenFD, port) = listenLoopback()
        spawnThread { [self] in acceptLoop() }
    }

    func stop() {
        shutdown(listenFD, Int32(SHUT_RDWR))
        sockets.shutdownAll()
    }

    private func acceptLoop() {
        while true {
            let fd = acceptCloseOnExec(listenFD)
            if fd < 0 { if errno == EINTR { continue }; close(listenFD); return }
            sockets.add(fd)
            spawnThread { [self] in serve(fd) }
        }
    }

    private func serve(_ fd: Int32) {
        let reader = SocketReader(fd: fd)
        guard let raw = reader.readHead(), let head = parseHead(raw) else { sockets.closeThenRemove(fd); return }
        if headerValue(head.headers, "expect")?.lowercased() == "100-continue" { writeAll(fd, "HTTP/1.1 100 Continue\r\n\r\n") }
        let length = Int(headerValue(head.headers, "content-length") ?? "0") ?? 0
        let body = length > 0 ? reader.readExactly(length) ?? [] : []
        requests.add(1, ordering: .relaxed)
        let seen = SeenRequest(method: head.method, path: head.target, headers: head.headers, body: String(decoding: body, as: UTF8.self))
        for step in script(seen) {
            switch step {
            case .write(let bytes):
                if !writeAll(fd, bytes) { sockets.closeThenRemove(fd); return }
            case .pause(let ms):
                sleepMs(ms)
            case .reset:
                sockets.remove(fd)
                resetAndClose(fd)
                return
            }
        }
        // Let the peer read everything before the FIN.
        shutdown(fd, Int32(SHUT_WR))
        _ = peerClosed(fd, waitingMs: 2000)
        sockets.closeThenRemove(fd)
    }

    /// A response head with a close-delimited body.
    static func head(status: Int = 200, contentType: String = "text/event-stream", extra: [(String, String)] = []) -> Step {
        var s = "HTTP/1.1 \(status) X\r\nContent-Type: \(contentType)\r\nConnection: close\r\n"
        for (k, v) in extra { s += "\(k): \(v)\r\n" }
        return .write(Array((s + "\r\n").utf8))
    }
}

/// `openssl s_server` on 127.0.0.1 with a fresh self-signed certificate that
/// the proxy does not trust. Nil when openssl is missing.
final class UntrustedTLSServer: @unchecked Sendable {
    let port: Int
    var url: String { "https://127.0.0.1:\(port)" }
    private let child: ChildProcess
    private let dir: String

    init?() {
        dir = makeTempDir()
        guard let (cert, key) = makeSelfSignedCertificate(in: dir),
              let child = ChildProcess(["openssl", "s_server", "-accept", "127.0.0.1:0", "-cert", cert, "-key", key, "-www"])
        else { removeTree(dir); return nil }
        self.child = child
        var found: Int? = nil
        while let line = child.readLine(timeout: 15) {
            if line.hasPrefix("ACCEPT"), let colon = line.lastIndex(of: ":") { found = Int(line[line.index(after: colon)...]); break }
        }
        guard let found else { child.terminate(); removeTree(dir); return nil }
        port = found
    }

    func stop() {
        child.terminate()
        removeTree(dir)
    }
}
