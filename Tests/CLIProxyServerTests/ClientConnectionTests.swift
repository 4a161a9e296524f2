import CLIProxyServer
import NIOCore
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Client connections that the HTTP framework alone would keep open forever
/// (`ClientConnections`): the server closes them.
@Suite struct ClientConnectionTests {
    /// True once a send on `fd` fails because the server closed the
    /// connection for good (a reset: the server had unread bytes). A
    /// half-closed connection still accepts sends, so this tells a full
    /// close from the 400-and-half-close Hummingbird does alone.
    static func serverClosed(_ fd: Int32, withinMs ms: Int) -> Bool {
        let deadline = now() + Double(ms) / 1000
        var byte: UInt8 = 0x61
        while now() < deadline {
            let n = send(fd, &byte, 1, Int32(MSG_DONTWAIT | MSG_NOSIGNAL))
            if n < 0 && (errno == EPIPE || errno == ECONNRESET) { return true }
            sleepMs(100)
        }
        return false
    }

    /// Regression: a 300 KB header got its 400 and a half-close, and then
    /// the connection stayed open for good (the server stopped reading, so
    /// the client's end never arrived): one descriptor and ~130 KB each.
    @Test func aRequestThatCannotBeParsedHasItsConnectionClosed() async throws {
        let server = try await TestServer(yaml: "port: 8317\n"); defer { server.stop() }
        let port = server.port
        let (answer, closed) = try await offPool { () -> (String, Bool) in
            let fd = connectLoopback(port: port)
            guard fd >= 0 else { return ("connect failed", false) }
            defer { close(fd) }
            var timeout = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            writeAll(fd, "GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Big: " + String(repeating: "b", count: 300_000) + "\r\n\r\n")
            var got: [UInt8] = []
            while let chunk = readSome(fd) { got += chunk }  // the 400, then the server's half-close
            return (String(decoding: got, as: UTF8.self), Self.serverClosed(fd, withinMs: 30_000))
        }
        #expect(answer.hasPrefix("HTTP/1.1 400"), "\(answer.prefix(200))")
        #expect(closed, "the server still holds the connection 30 s after its 400")
    }

    /// A connection that never sends a request, and one idle after its
    /// request, are closed after the idle timeout; a request in progress is not.
    @Test func idleConnectionsAreClosedButNotLongRequests() async throws {
        let slow = FakeUpstream { _ in
            .stream(Array(repeating: Array("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"}}]}\n\n".utf8), count: 6), pauseMs: 600)
        }
        try await slow.start(); defer { slow.stop() }
        let server = try await TestServer(yaml: config(slow), connections: ClientConnections(idleTimeout: .seconds(2)))
        defer { server.stop() }
        let port = server.port
        let (silentClosed, keptAliveClosed) = try await offPool { () -> (Bool, Bool) in
            let silent = connectLoopback(port: port)
            let kept = connectLoopback(port: port)
            defer { close(silent); close(kept) }
            writeAll(kept, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            _ = readSome(kept)
            // Generous bounds: without the timeout these never close, and when every
            // suite starts at once the server may accept a connection seconds late
            // (the idle clock starts at the accept).
            return (peerClosed(silent, waitingMs: 60_000), peerClosed(kept, waitingMs: 60_000))
        }
        #expect(silentClosed, "a connection that never sent a request")
        #expect(keptAliveClosed, "a kept-alive connection after its request")
        // A stream that lasts ~3.6 s, longer than the idle timeout, runs to its end.
        let body = #"{"model":"my-model","stream":true,"messages":[{"role":"user","content":"hi"}]}"#
        let (status, _, reply) = try await Client(base: server.base).call("/v1/chat/completions", body)
        #expect(status == 200)
        #expect(reply.components(separatedBy: "\"content\":\"x\"").count - 1 == 6, "\(reply.suffix(300))")
    }
}
