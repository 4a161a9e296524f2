// A threaded HTTP/1.1 test server on 127.0.0.1 with keep-alive and the
// misbehaviours the transport must survive. One thread per connection.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// What the server saw of one request, keyed by its `id` query parameter.
struct Observation: Sendable {
    var method = ""
    var headers: [(String, String)] = []
    var body: [UInt8] = []
    /// When each body chunk was handed to the kernel.
    var sentAt: [Double] = []
    /// When the response was complete.
    var finishedAt: Double? = nil
    /// When the server noticed the client had gone.
    var closedAt: Double? = nil
    var bytesSent = 0
}

final class TestHTTPServer: @unchecked Sendable {
    let port: Int
    private let listenFD: Int32
    private let sockets = SocketRegistry()
    /// Connections accepted so far.
    let accepted = Atomic<Int>(0)
    let requests = Atomic<Int>(0)
    private let observations = Mutex<[String: Observation]>([:])

    init() {
        (listenFD, port) = listenLoopback()
        spawnThread { [self] in acceptLoop() }
    }

    func url(_ pathAndQuery: String, host: String = "127.0.0.1") -> String { "http://\(host):\(port)\(pathAndQuery)" }

    func stop() {
        shutdown(listenFD, Int32(SHUT_RDWR))
        sockets.shutdownAll()
    }

    func observation(_ id: String) -> Observation? { observations.withLock { $0[id] } }

    private let acks = Mutex<[String: Int]>([:])
    /// The client got one more event of stream `id` (see `gate` on /sse).
    func acknowledge(_ id: String) { acks.withLock { $0[id, default: 0] += 1 } }
    func acknowledged(_ id: String) -> Int { acks.withLock { $0[id] ?? 0 } }

    /// Polls until `condition` holds for the observation of `id` (or `timeout` passes).
    func waitFor(_ id: String, timeout: Double = 5, _ condition: (Observation) -> Bool) async -> Observation? {
        let end = now() + timeout
        while now() < end {
            if let o = observation(id), condition(o) { return o }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return observation(id)
    }

    private func update(_ id: String, _ body: (inout Observation) -> Void) {
        observations.withLock { body(&$0[id, default: Observation()]) }
    }

    private func acceptLoop() {
        while true {
            let fd = acceptCloseOnExec(listenFD)
            if fd < 0 {
                if errno == EINTR { continue }
                close(listenFD)
                return
            }
            accepted.add(1, ordering: .relaxed)
            sockets.add(fd)
            spawnThread { [self] in
                serve(fd)
                sockets.closeThenRemove(fd)
            }
        }
    }

    /// Serves requests on one connection until a handler closes it.
    private func serve(_ fd: Int32) {
        let reader = SocketReader(fd: fd)
        while let rawHead = reader.readHead(), let head = parseHead(rawHead) {
            requests.add(1, ordering: .relaxed)
            let length = Int(headerValue(head.headers, "Content-Length") ?? "0") ?? 0
            guard let body = reader.readExactly(length) else { return }
            let (path, query) = splitTarget(head.target)
            let id = query["id"] ?? "-"
            update(id) { o in
                o.method = head.method
                o.headers = head.headers
                o.body = body
            }
            if !handle(fd, path: path, query: query, id: id, body: body) { return }
        }
    }

    /// Writes one response; false when the connection must end.
    private func handle(_ fd: Int32, path: String, query: [String: String], id: String, body: [UInt8]) -> Bool {
        let n = Int(query["n"] ?? "5") ?? 5
        let delay = Int(query["delay"] ?? "0") ?? 0
        let gate = query["gate"] == "1"
        switch path {
        case "/json":
            let payload = "{\"ok\":true,\"id\":\"\(id)\"}"
            let ok = writeAll(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Test-Id: \(id)\r\nContent-Length: \(payload.utf8.count)\r\n\r\n\(payload)")
            update(id) { $0.finishedAt = now() }
            return ok

        case "/echo":
            var ok = writeAll(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: \(body.count)\r\n\r\n")
            ok = ok && writeAll(fd, body)
            update(id) { $0.finishedAt = now() }
            return ok

        case "/status":
            let code = Int(query["code"] ?? "429") ?? 429
            let payload = "{\"error\":{\"type\":\"rate_limit\",\"message\":\"slow down\"}}"
            return writeAll(fd, "HTTP/1.1 \(code) Too Many Requests\r\nContent-Type: application/json\r\nRetry-After: 7\r\nX-RateLimit-Remaining-Requests: 0\r\nContent-Length: \(payload.utf8.count)\r\n\r\n\(payload)")

        case "/continue":
            // An unsolicited 1xx block before the real head.
            let payload = "after-100"
            return writeAll(fd, "HTTP/1.1 100 Continue\r\nX-Interim: yes\r\n\r\nHTTP/1.1 200 OK\r\nX-Final: yes\r\nContent-Length: \(payload.utf8.count)\r\n\r\n\(payload)")

        case "/sse":
            // n events, `delay` ms before each; chunked.
            guard writeAll(fd, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n") else { return false }
            for i in 0..<n {
                sleepMs(delay)
                // With `gate`, event i waits until the client acknowledged event
                // i-1 (at most 10 s): streaming is then checked by order, not time.
                if gate && i > 0 {
                    let end = now() + 10
                    while now() < end && acknowledged(id) < i { sleepMs(2) }
                }
                let event = "data: {\"i\":\(i),\"id\":\"\(id)\"}\n\n"
                let t = now()
                guard writeChunk(fd, Array(event.utf8)) else { update(id) { $0.closedAt = now() }; return false }
                update(id) { $0.sentAt.append(t) }
            }
            let t = now()
            let ok = writeAll(fd, "0\r\n\r\n")
            update(id) { $0.finishedAt = t }
            return ok

        case "/reset-head":
            resetAndCloseRegistered(fd)
            return false

        case "/reset-mid":
            guard writeAll(fd, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n") else { return false }
            for i in 0..<n {
                sleepMs(20)
                _ = writeChunk(fd, Array("data: \(i)\n\n".utf8))
            }
            sleepMs(100)
            resetAndCloseRegistered(fd)
            return false

        case "/stall":
            // Head and n chunks, then silence until the client goes (or 15 s).
            guard writeAll(fd, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n") else { return false }
            for i in 0..<n { _ = writeChunk(fd, Array("data: \(i)\n\n".utf8)) }
            update(id) { $0.sentAt.append(now()) }
            waitForClose(fd, id: id, seconds: 15)
            return false

        case "/stall-head":
            waitForClose(fd, id: id, seconds: 15)
            return false

        case "/endless":
            // Chunks every `delay` ms until the client goes (or 30 s).
            guard writeAll(fd, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n") else { return false }
            let end = now() + 30
            var i = 0
            while now() < end {
                if !writeChunk(fd, Array("data: \(i)\n\n".utf8)) { update(id) { $0.closedAt = now() }; return false }
                update(id) { $0.sentAt.append(now()) }
                i += 1
                if peerClosed(fd, waitingMs: max(1, delay)) { update(id) { $0.closedAt = now() }; return false }
            }
            return false

        case "/big":
            // `size` bytes as fast as the client takes them.
            let size = Int(query["size"] ?? "1048576") ?? 1_048_576
            guard writeAll(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: \(size)\r\n\r\n") else { return false }
            let block = [UInt8](repeating: UInt8(ascii: "x"), count: 65536)
            var sent = 0
            while sent < size {
                let piece = min(block.count, size - sent)
                if !writeAll(fd, piece == block.count ? block : Array(block[0..<piece])) { update(id) { $0.closedAt = now() }; return false }
                sent += piece
                update(id) { $0.bytesSent = sent }
            }
            update(id) { $0.finishedAt = now() }
            return true

        default:
            return writeAll(fd, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        }
    }

    private func writeChunk(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        writeAll(fd, String(bytes.count, radix: 16) + "\r\n") && writeAll(fd, bytes) && writeAll(fd, "\r\n")
    }

    private func waitForClose(_ fd: Int32, id: String, seconds: Double) {
        let end = now() + seconds
        while now() < end {
            if peerClosed(fd, waitingMs: 50) { update(id) { $0.closedAt = now() }; return }
        }
    }

    /// RST the connection; the serving thread must not close it again.
    private func resetAndCloseRegistered(_ fd: Int32) {
        var l = linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size))
        // Closing happens in `closeThenRemove` right after the handler returns.
    }
}

func splitTarget(_ target: String) -> (String, [String: String]) {
    guard let q = target.firstIndex(of: "?") else { return (target, [:]) }
    var query: [String: String] = [:]
    for pair in target[target.index(after: q)...].split(separator: "&") {
        let kv = pair.split(separator: "=", maxSplits: 1).map(String.init)
        query[kv[0]] = kv.count > 1 ? kv[1] : ""
    }
    return (String(target[..<q]), query)
}
