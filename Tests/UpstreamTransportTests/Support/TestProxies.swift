// A SOCKS5 proxy (RFC 1928/1929) and an HTTP CONNECT proxy with Basic auth,
// on 127.0.0.1. Both only ever connect to 127.0.0.1.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

final class SOCKS5Proxy: @unchecked Sendable {
    let port: Int
    private let listenFD: Int32
    private let sockets = SocketRegistry()
    private let credentials: (String, String)?
    /// Client connections accepted.
    let accepted = Atomic<Int>(0)
    /// Tunnels opened to a target.
    let tunnels = Atomic<Int>(0)
    /// What clients asked for: "ipv4 a.b.c.d:port" or "domain name:port"; users seen.
    let log = Mutex<(targets: [String], users: [String], rejected: Int)>(([], [], 0))

    init(credentials: (String, String)? = nil) {
        self.credentials = credentials
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
            accepted.add(1, ordering: .relaxed)
            sockets.add(fd)
            spawnThread { [self] in
                let upstream = handshake(fd)
                if upstream >= 0 {
                    relay(fd, upstream)
                    sockets.closeThenRemove(upstream)
                }
                sockets.closeThenRemove(fd)
            }
        }
    }

    /// Negotiates; returns the connected upstream socket or -1.
    private func handshake(_ fd: Int32) -> Int32 {
        let r = SocketReader(fd: fd)
        guard let greet = r.readExactly(2), greet[0] == 5, let methods = r.readExactly(Int(greet[1])) else { return -1 }
        if let (user, pass) = credentials {
            guard methods.contains(2) else { writeAll(fd, [5, 0xFF]); return -1 }
            writeAll(fd, [5, 2])
            guard let v = r.readExactly(2), v[0] == 1,
                  let u = r.readExactly(Int(v[1])), let pl = r.readExactly(1), let p = r.readExactly(Int(pl[0]))
            else { return -1 }
            let gotUser = String(decoding: u, as: UTF8.self), gotPass = String(decoding: p, as: UTF8.self)
            log.withLock { $0.users.append(gotUser) }
            if gotUser != user || gotPass != pass {
                log.withLock { $0.rejected += 1 }
                writeAll(fd, [1, 1])
                return -1
            }
            writeAll(fd, [1, 0])
        } else {
            guard methods.contains(0) else { writeAll(fd, [5, 0xFF]); return -1 }
            writeAll(fd, [5, 0])
        }
        guard let req = r.readExactly(4), req[0] == 5, req[1] == 1 else { return -1 }
        var target: String
        var allowed: Bool
        switch req[3] {
        case 1:
            guard let a = r.readExactly(4) else { return -1 }
            target = "ipv4 \(a[0]).\(a[1]).\(a[2]).\(a[3])"
            allowed = a[0] == 127
        case 3:
            guard let l = r.readExactly(1), let name = r.readExactly(Int(l[0])) else { return -1 }
            let host = String(decoding: name, as: UTF8.self)
            target = "domain \(host)"
            allowed = host == "localhost" || host == "127.0.0.1"
        default:
            writeAll(fd, [5, 8, 0, 1, 0, 0, 0, 0, 0, 0])
            return -1
        }
        guard let pb = r.readExactly(2) else { return -1 }
        let port = Int(pb[0]) << 8 | Int(pb[1])
        target += ":\(port)"
        log.withLock { $0.targets.append(target) }
        guard allowed else { writeAll(fd, [5, 2, 0, 1, 0, 0, 0, 0, 0, 0]); return -1 }
        let up = connectLoopback(port: port)
        guard up >= 0 else { writeAll(fd, [5, 5, 0, 1, 0, 0, 0, 0, 0, 0]); return -1 }
        sockets.add(up)
        tunnels.add(1, ordering: .relaxed)
        writeAll(fd, [5, 0, 0, 1, 0, 0, 0, 0, 0, 0])
        let early = r.takeBuffered()
        if !early.isEmpty { writeAll(up, early) }
        return up
    }
}

final class HTTPConnectProxy: @unchecked Sendable {
    let port: Int
    private let listenFD: Int32
    private let sockets = SocketRegistry()
    private let credentials: (String, String)?
    let accepted = Atomic<Int>(0)
    let tunnels = Atomic<Int>(0)
    /// Requests that were not CONNECT (forward proxying): answered 501.
    let forwardRequests = Atomic<Int>(0)
    let rejected = Atomic<Int>(0)

    init(credentials: (String, String)? = nil) {
        self.credentials = credentials
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
            accepted.add(1, ordering: .relaxed)
            sockets.add(fd)
            spawnThread { [self] in
                let upstream = handshake(fd)
                if upstream >= 0 {
                    relay(fd, upstream)
                    sockets.closeThenRemove(upstream)
                }
                sockets.closeThenRemove(fd)
            }
        }
    }

    private func handshake(_ fd: Int32) -> Int32 {
        let r = SocketReader(fd: fd)
        guard let raw = r.readHead(), let head = parseHead(raw) else { return -1 }
        guard head.method == "CONNECT" else {
            forwardRequests.add(1, ordering: .relaxed)
            writeAll(fd, "HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return -1
        }
        if let (user, pass) = credentials {
            let expected = "Basic " + base64(Array("\(user):\(pass)".utf8))
            if headerValue(head.headers, "Proxy-Authorization") != expected {
                rejected.add(1, ordering: .relaxed)
                writeAll(fd, "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                return -1
            }
        }
        guard let colon = head.target.lastIndex(of: ":"), let port = Int(head.target[head.target.index(after: colon)...]) else { return -1 }
        let host = String(head.target[..<colon])
        guard host == "127.0.0.1" || host == "localhost" else {
            writeAll(fd, "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return -1
        }
        let up = connectLoopback(port: port)
        guard up >= 0 else {
            writeAll(fd, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return -1
        }
        sockets.add(up)
        tunnels.add(1, ordering: .relaxed)
        writeAll(fd, "HTTP/1.1 200 Connection established\r\n\r\n")
        let early = r.takeBuffered()
        if !early.isEmpty { writeAll(up, early) }
        return up
    }
}
