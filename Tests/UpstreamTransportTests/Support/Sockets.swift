// POSIX socket helpers for the local test servers (127.0.0.1 only).
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Seconds on the monotonic clock.
func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

func sleepMs(_ ms: Int) {
    guard ms > 0 else { return }
    usleep(useconds_t(ms * 1000))
}

private final class ThreadBody {
    let body: () -> Void
    init(_ body: @escaping () -> Void) { self.body = body }
}

/// Runs `body` on a new detached thread.
func spawnThread(_ body: @escaping @Sendable () -> Void) {
    var tid = pthread_t()
    let box = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
    let rc = pthread_create(&tid, nil, { raw in
        Unmanaged<ThreadBody>.fromOpaque(raw!).takeRetainedValue().body()
        return nil
    }, box)
    precondition(rc == 0, "pthread_create failed")
    pthread_detach(tid)
}

private func loopbackAddress(port: UInt16) -> sockaddr_in {
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = port.bigEndian
    return addr
}

/// A listening socket on 127.0.0.1 and an ephemeral port.
func listenLoopback(backlog: Int32 = 256) -> (fd: Int32, port: Int) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    precondition(fd >= 0)
    var one: Int32 = 1
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
    var addr = loopbackAddress(port: 0)
    let b = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    precondition(b == 0, "bind failed")
    precondition(listen(fd, backlog) == 0, "listen failed")
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
    }
    return (fd, Int(UInt16(bigEndian: addr.sin_port)))
}

/// A port on 127.0.0.1 where nothing listens (bound once, then released).
func refusedPort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    var addr = loopbackAddress(port: 0)
    _ = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
    }
    close(fd)
    return Int(UInt16(bigEndian: addr.sin_port))
}

/// accept(2), with the new socket close-on-exec (child processes the tests
/// spawn must not hold connections open).
func acceptCloseOnExec(_ listenFD: Int32) -> Int32 {
    let fd = accept(listenFD, nil, nil)
    if fd >= 0 { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
    return fd
}

/// Connects to 127.0.0.1:port; -1 on failure.
func connectLoopback(port: Int) -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { return -1 }
    var addr = loopbackAddress(port: UInt16(port))
    let rc = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    if rc != 0 { close(fd); return -1 }
    return fd
}

/// Writes everything; false when the peer is gone.
@discardableResult
func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
    var off = 0
    while off < bytes.count {
        let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + off, bytes.count - off, Int32(MSG_NOSIGNAL)) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { return false }
        off += n
    }
    return true
}

@discardableResult
func writeAll(_ fd: Int32, _ text: String) -> Bool { writeAll(fd, Array(text.utf8)) }

/// Up to `max` bytes; nil at EOF or on error.
func readSome(_ fd: Int32, max: Int = 65536) -> [UInt8]? {
    var buf = [UInt8](repeating: 0, count: max)
    while true {
        let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, max, 0) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { return nil }
        return Array(buf[0..<n])
    }
}

/// Waits up to `ms` for `fd` to become readable (or hung up).
func waitReadable(_ fd: Int32, ms: Int) -> Bool {
    var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    let rc = poll(&p, 1, Int32(ms))
    return rc > 0
}

/// True when the peer has closed (or reset) the connection. Consumes any
/// pending request bytes while looking.
func peerClosed(_ fd: Int32, waitingMs ms: Int) -> Bool {
    guard waitReadable(fd, ms: ms) else { return false }
    var buf = [UInt8](repeating: 0, count: 4096)
    let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, 4096, Int32(MSG_DONTWAIT)) }
    if n == 0 { return true }
    if n < 0 { return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR }
    return false
}

/// Closes with an RST instead of a FIN.
func resetAndClose(_ fd: Int32) {
    var l = linger(l_onoff: 1, l_linger: 0)
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size))
    close(fd)
}

/// Buffered reading of HTTP-ish framing from one socket.
final class SocketReader {
    let fd: Int32
    private var buffer: [UInt8] = []

    init(fd: Int32) { self.fd = fd }

    /// Bytes up to (not including) `\r\n\r\n`; nil at EOF.
    func readHead(limit: Int = 1 << 20) -> [UInt8]? {
        var searchFrom = 0
        while true {
            if buffer.count >= 4 {
                var i = max(0, searchFrom - 3)
                while i + 3 < buffer.count {
                    if buffer[i] == 13 && buffer[i + 1] == 10 && buffer[i + 2] == 13 && buffer[i + 3] == 10 {
                        let head = Array(buffer[0..<i])
                        buffer.removeFirst(i + 4)
                        return head
                    }
                    i += 1
                }
                searchFrom = buffer.count
            }
            if buffer.count > limit { return nil }
            guard let more = readSome(fd) else { return nil }
            buffer.append(contentsOf: more)
        }
    }

    func readExactly(_ n: Int) -> [UInt8]? {
        while buffer.count < n {
            guard let more = readSome(fd) else { return nil }
            buffer.append(contentsOf: more)
        }
        let out = Array(buffer[0..<n])
        buffer.removeFirst(n)
        return out
    }

    /// Whatever was read past the last framed piece.
    func takeBuffered() -> [UInt8] {
        let b = buffer
        buffer = []
        return b
    }
}

/// Parses "METHOD target HTTP/x" plus header lines.
func parseHead(_ head: [UInt8]) -> (method: String, target: String, headers: [(String, String)])? {
    let text = String(decoding: head, as: UTF8.self)
    var lines = text.split(separator: "\r\n", omittingEmptySubsequences: false).map(String.init)
    guard !lines.isEmpty else { return nil }
    let first = lines.removeFirst().split(separator: " ")
    guard first.count >= 2 else { return nil }
    var headers: [(String, String)] = []
    for l in lines {
        guard let c = l.firstIndex(of: ":") else { continue }
        let name = String(l[..<c])
        var value = String(l[l.index(after: c)...])
        while value.hasPrefix(" ") { value.removeFirst() }
        headers.append((name, value))
    }
    return (String(first[0]), String(first[1]), headers)
}

func headerValue(_ headers: [(String, String)], _ name: String) -> String? {
    headers.first { $0.0.lowercased() == name.lowercased() }?.1
}

/// Open sockets of a server, so that `stop()` can wake every thread.
final class SocketRegistry: Sendable {
    private let fds = Mutex<Set<Int32>>([])
    func add(_ fd: Int32) { fds.withLock { _ = $0.insert(fd) } }
    /// Call before closing `fd` yourself.
    func remove(_ fd: Int32) { fds.withLock { _ = $0.remove(fd) } }
    func closeThenRemove(_ fd: Int32) {
        fds.withLock { _ = $0.remove(fd); close(fd) }
    }
    func shutdownAll() { fds.withLock { for fd in $0 { shutdown(fd, Int32(SHUT_RDWR)) } } }
}

/// Copies bytes both ways between two sockets until either side closes.
func relay(_ a: Int32, _ b: Int32) {
    var fds = [pollfd(fd: a, events: Int16(POLLIN), revents: 0), pollfd(fd: b, events: Int16(POLLIN), revents: 0)]
    while true {
        let rc = poll(&fds, 2, 30_000)
        if rc < 0 && errno == EINTR { continue }
        if rc <= 0 { return }
        for i in 0..<2 where fds[i].revents != 0 {
            guard let bytes = readSome(fds[i].fd) else { return }
            if !writeAll(fds[1 - i].fd, bytes) { return }
        }
    }
}

func base64(_ bytes: [UInt8]) -> String {
    let table = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    var out: [UInt8] = []
    var i = 0
    while i < bytes.count {
        let b0 = bytes[i], b1 = i + 1 < bytes.count ? bytes[i + 1] : 0, b2 = i + 2 < bytes.count ? bytes[i + 2] : 0
        out.append(table[Int(b0 >> 2)])
        out.append(table[Int((b0 & 3) << 4 | b1 >> 4)])
        out.append(i + 1 < bytes.count ? table[Int((b1 & 15) << 2 | b2 >> 6)] : UInt8(ascii: "="))
        out.append(i + 2 < bytes.count ? table[Int(b2 & 63)] : UInt8(ascii: "="))
        i += 3
    }
    return String(decoding: out, as: UTF8.self)
}

/// This machine's first IPv4 address that is not loopback (for reaching a
/// server listening on every interface as a non-loopback peer, without
/// leaving the machine), or nil when it has none.
func nonLoopbackIPv4() -> String? {
    var list: UnsafeMutablePointer<ifaddrs>?
    guard getifaddrs(&list) == 0, let first = list else { return nil }
    defer { freeifaddrs(list) }
    var p: UnsafeMutablePointer<ifaddrs>? = first
    while let a = p {
        defer { p = a.pointee.ifa_next }
        guard let sa = a.pointee.ifa_addr, sa.pointee.sa_family == sa_family_t(AF_INET),
              a.pointee.ifa_flags & UInt32(IFF_UP) != 0, a.pointee.ifa_flags & UInt32(IFF_LOOPBACK) == 0 else { continue }
        var addr = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
        var buffer = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
        guard inet_ntop(AF_INET, &addr, &buffer, socklen_t(INET_ADDRSTRLEN)) != nil else { continue }
        let text = String(cString: buffer)
        if !text.hasPrefix("127.") { return text }
    }
    return nil
}

/// Runs blocking work (waitpid, sleeps, pipe reads) on a thread of its own.
/// Swift's cooperative pool has one thread per core — two here — and every
/// async test and in-process server shares it: a test blocking one of them
/// for seconds stalls the others until their timeouts fire.
func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { c in spawnThread { c.resume(with: Result { try body() }) } }
}
