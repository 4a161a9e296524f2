import Testing
import Synchronization
@testable import UpstreamTransport
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Every server here listens on 127.0.0.1; no test reaches another address.

/// The error a call threw, or nil if it returned. (Closures do not infer
/// typed throws yet; anything but a TransportError is a test failure.)
func failure<T>(_ body: () async throws -> T) async -> TransportError? {
    do {
        _ = try await body()
        return nil
    } catch let error as TransportError {
        return error
    } catch {
        Issue.record("not a TransportError: \(error)")
        return .other(code: -999, message: "\(error)")
    }
}

func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

/// Deterministic pseudo-random bytes.
func pseudoRandomBytes(_ n: Int, seed: UInt64 = 0x9E37_79B9_7F4A_7C15) -> [UInt8] {
    var x = seed
    return (0..<n).map { _ in
        x ^= x << 13; x ^= x >> 7; x ^= x << 17
        return UInt8(truncatingIfNeeded: x)
    }
}

final class Weak<T: AnyObject> {
    weak var value: T?
    init(_ value: T) { self.value = value }
}

/// A running python3 HTTPS server with a fresh self-signed certificate.
final class TLSServer: Sendable {
    let dir: String, cert: String, port: Int
    private let child: ChildProcess

    init?() {
        dir = makeTempDir()
        guard let (cert, key) = makeSelfSignedCertificate(in: dir),
              writeFile(dir + "/tls_server.py", tlsServerScript),
              let child = ChildProcess(["python3", dir + "/tls_server.py", cert, key]),
              let line = child.readLine(), let port = Int(line)
        else { removeTree(dir); return nil }
        self.cert = cert
        self.child = child
        self.port = port
    }

    func stop() {
        child.terminate()
        removeTree(dir)
    }
}

let options = TransportOptions(connectTimeout: 5, idleReadTimeout: 10)

@Suite(.serialized)
struct StreamingTests {
    @Test("streaming: head first, then each chunk as the server sends it")
    func streamingDeliversHeadThenChunks() async throws {
        let server = TestHTTPServer()
        defer { server.stop() }
        let transport = UpstreamTransport()
        defer { transport.shutdown() }

        let (head, body) = try await transport.start(UpstreamRequest(url: server.url("/sse?id=s1&n=5&gate=1")), options: options)
        #expect(head.status == 200)
        #expect(head.value(of: "content-type") == "text/event-stream")
        #expect(head.value(of: "CACHE-CONTROL") == "no-cache")

        // The server sends event i only once we acknowledged event i-1: a
        // transport that held chunks back would stall it (10 s per event) and
        // deliver everything at the end, after the server's later sends.
        var chunks: [[UInt8]] = []
        var arrivals: [Double] = []
        for try await chunk in body {
            chunks.append(chunk)
            arrivals.append(now())
            server.acknowledge("s1")
        }
        let obs = try #require(await server.waitFor("s1") { $0.finishedAt != nil })
        #expect(obs.sentAt.count == 5)
        #expect(chunks.count == 5)
        for i in 0..<4 where i + 1 < obs.sentAt.count {
            #expect(arrivals[i] < obs.sentAt[i + 1], "chunk \(i) arrived before the server sent the next one")
        }
        let expected = (0..<5).map { "data: {\"i\":\($0),\"id\":\"s1\"}\n\n" }.joined()
        #expect(text(chunks.flatMap { $0 }) == expected)
    }

    @Test("non-stream send returns the whole body")
    func nonStreamSend() async throws {
        let server = TestHTTPServer()
        defer { server.stop() }
        let transport = UpstreamTransport()
        defer { transport.shutdown() }
        let (head, body) = try await transport.send(UpstreamRequest(url: server.url("/json?id=j1")), options: options)
        #expect(head.status == 200)
        #expect(head.value(of: "x-test-id") == "j1")
        #expect(head.values(of: "Content-Type") == ["application/json"])
        #expect(text(body) == "{\"ok\":true,\"id\":\"j1\"}")
    }

    @Test("a 60 KB POST body arrives intact, without Expect: 100-continue")
    func postBodyIntact() async throws {
        let server = TestHTTPServer()
        defer { server.stop() }
        let transport = UpstreamTransport()
        defer { transport.shutdown() }
        let payload = pseudoRandomBytes(60 * 1024)
        let request = UpstreamRequest(
            method: "POST", url: server.url("/echo?id=p1"),
            headers: [("Content-Type", "application/octet-stream"), ("X-Custom", "v1"), ("Content-Length", "5")],
            body: payload)
        let (head, echoed) = try await transport.send(request, options: options)
        #expect(head.status == 200)
        #expect(echoed == payload)
        let obs = try #require(server.observation("p1"))
        #expect(obs.method == "POST")
        #expect(obs.body == payload)
        #expect(headerValue(obs.headers, "Expect") == nil)
        #expect(headerValue(obs.headers, "Content-Length") == String(payload.count))
        #expect(headerValue(obs.headers, "X-Custom") == "v1")
        #expect(headerValue(obs.headers, "Content-Type") == "application/octet-stream")

        // libcurl would ask for 100-continue above 1 MB; the transport never does.
        let large = pseudoRandomBytes(3 << 20, seed: 42)
        let t0 = now()
        let (_, echoedLarge) = try await transport.send(UpstreamRequest(method: "POST", url: server.url("/echo?id=p2"), body: large), options: options)
        #expect(echoedLarge == large)
        _ = t0
        #expect(headerValue(try #require(server.observation("p2")).headers, "Expect") == nil)
    }

    @Test("other methods; an empty POST gets no form content type")
    func methods() async throws {
        let server = TestHTTPServer()
        defer { server.stop() }
        let transport = UpstreamTransport()
        defer { transport.shutdown() }
        _ = try await transport.send(UpstreamRequest(method: "PUT", url: server.url("/echo?id=m1"), body: [1, 2, 3]), options: options)
        _ = try await transport.send(UpstreamRequest(method: "DELETE", url: server.url("/echo?id=m2")), options: options)
        _ = try await transport.send(UpstreamRequest(method: "POST", url: server.url("/echo?id=m3"), headers: [("X-Empty", "")]), options: options)
        #expect(server.observation("m1")?.method == "PUT")
        #expect(server.observation("m1")?.body == [1, 2, 3])
        #expect(server.observation("m2")?.method == "DELETE")
        let m3 = try #require(server.observation("m3"))
        #expect(m3.method == "POST")
        #expect(headerValue(m3.headers, "Content-Length") == "0")
        #expect(headerValue(m3.headers, "Content-Type") == nil)
        #expect(headerValue(m3.headers, "X-Empty") == "")
    }

    @Test("20 concurrent streams on the one engine thread")
    func twentyConcurrentStreams() async throws {
        let server = TestHTTPServer()
        defer { server.stop() }
        let transport = UpstreamTransport()
        defer { transport.shutdown() }
        let results = await withTaskGroup(of: (Int, Result<String, TransportError>).self) { group in
            for i in 0..<20 {
                group.addTask {
                    do throws(TransportError) {
                        let (head, body) = try await transport.start(UpstreamRequest(url: server.url("/sse?id=c\(i)&n=20&delay=10")), options: options)
                        guard head.status == 200 else { return (i, .failure(.other(code: 0, message: "status \(head.status)"))) }
                        return (i, .success(text(try await body.collect())))
                    } catch {
                        return (i, .failure(error))
                    }
                }
            }
            var all: [Int: Result<String, TransportError>] = [:]
            for await (i, r) in group { all[i] = r }
            return all
        }
        #expect(results.count == 20)
        for i in 0..<20 {
            let expected = (0..<20).map { "data: {\"i\":\($0),\"id\":\"c\(i)\"}\n\n" }.joined()
            #expect(try results[i]!.get() == expected)
        }
    }

    @Test("a 1xx block is skipped; 429 with its headers is a normal head")
    func interimAndErrorStatus() async throws {
        let server = TestHTTPServer()
        defer { server.stop() }
        let transport = UpstreamTransport()
        defer { transport.shutdown() }
        let (head, body) = try await transport.send(UpstreamRequest(url: server.url("/continue")), options: options)
        #expect(head.status == 200)
        #expect(head.value(of: "x-final") == "yes")
        #expect(head.value(of: "x-interim") == nil)
        #expect(text(body) == "after-100")

        let (h429, b429) = try await transport.send(UpstreamRequest(url: server.url("/status?code=429")), options: options)
        #expect(h429.status == 429)
        #expect(h429.value(of: "retry-after") == "7")
        #expect(h429.value(of: "x-ratelimit-remaining-requests") == "0")
        #expect(text(b429).contains("rate_limit"))
    }

    @Test("sequential requests reuse connections")
    func connectionReuse() async throws {
        let server = TestHTTPServer()
        defer { server.stop() }
        let transport = UpstreamTransport()
        defer { transport.shutdown() }
        for i in 0..<40 {
            let (head, _) = try await transport.send(UpstreamRequest(url: server.url("/json?id=r\(i)")), options: options)
            #expect(head.status == 200)
            // Streams too: a fully read chunked body leaves the connection reusable.
            if i % 10 == 0 { _ = try await transport.send(UpstreamRequest(url: server.url("/sse?id=rs\(i)&n=3")), options: options) }
        }
        #expect(server.requests.load(ordering: .relaxed) == 44)
        #expect(server.accepted.load(ordering: .relaxed) <= 2)
    }

    @Test("a slow consumer pauses the transfer instead of buffering everything")
    func backpressure() async throws {
        let server = TestHTTPServer()
        defer { server.stop() }
        let transport = UpstreamTransport()
        defer { transport.shutdown() }
        let size = 64 << 20
        // The idle timeout must not fire while the transport holds the transfer back.
        let opts = TransportOptions(connectTimeout: 5, idleReadTimeout: 0.5)
        let (head, body) = try await transport.start(UpstreamRequest(url: server.url("/big?id=bp&size=\(size)")), options: opts)
        #expect(head.status == 200)
        var it = body.makeAsyncIterator()
        var total = try await it.next()?.count ?? 0
        try await Task.sleep(for: .milliseconds(1200))
        let buffered = body.handle.transfer.bufferedBytes
        #expect(buffered <= Transfer.highWater + 256 * 1024)
        #expect(buffered >= Transfer.highWater / 2)
        #expect((server.observation("bp")?.bytesSent ?? 0) < size / 2)
        while let chunk = try await it.next() { total += chunk.count }
        #expect(total == size)
    }
}

@Suite(.serialized)
struct FailureTests {
    @Test("connection refused is connectFailed naming host and port")
    func connectionRefused() async throws {
        let port = refusedPort()
        let transport = UpstreamTransport()
        defer { transport.shutdown() }
        let error = await failure { try await transport.send(UpstreamRequest(url: "http://127.0.0.1:\(port)/v1/chat?key=SECRET-IN-QUERY"), options: options) }
        guard case .connectFailed(let message)? = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(message.contains("127.0.0.1:\(port)"))
        #expect(!message.contains("SECRET"))
        #expect(!message.contains("/v1/chat"))
    }

    @Test("an untrusted self-signed certificate is tlsFailed; trusted through caFile it works")
    func tls() async throws {
        let server = try #require(await offPool { TLSServer() }, "openssl or python3 failed")
        defer { server.stop() }
        let transport = UpstreamTransport()
        defer { transport.shutdown() }
        let url = "https://127.0.0.1:\(server.port)/hello?key=SECRET-TLS"
        let error = await failure { try await transport.send(UpstreamRequest(url: url, headers: [("Authorization", "Bearer sk-SECRET-TOKEN")]), options: options) }
        guard case .tlsFailed(let message)? = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(message.contains("127.0.0.1:\(server.port)"))
        #expect(!message.contains("SECRET"))

        var trusted = options
        trusted.caFile = server.cert
        let (head, body) = try await transport.send(UpstreamRequest(url: url), options: trusted)
        #expect(head.status == 200)
        #expect(text(body) == "{\"tls\":true}")
    }

    @Test("a reset before the head is connectionReset")
    func resetBeforeHead() async throws {
        let server = TestHTTPServer()
        defer { server.stop() }
        let transport = UpstreamTransport()
        defer { transport.shutdown() }
        let error = await failure { try await transport.start(UpstreamRequest(url: server.url("/reset-head")), options: options) }
        guard case .connectionReset? = error else { Issue.record("got \(String(describing: error))"); return }
    }

    @Test("a reset mid-body throws from the iteration after the chunks that came")
    func resetMidBody() async throws {
        let server = TestHTTPServer()
        defer { server.stop() }
        let transport = UpstreamTransport()
        defer { transport.shutdown() }
        let (head, body) = try await transport.start(UpstreamRequest(url: server.url("/reset-mid?n=3")), options: options)
        #expect(head.status == 200)
        var received: [UInt8] = []
        let error = await failure {
            for try await chunk in body { received += chunk }
        }
        guard case .connectionReset? = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(text(received) == "data: 0\n\ndata: 1\n\ndata: 2\n\n")
    }

    @Test("a stalled body times out after idleReadTimeout")
    func stallTimesOut() async throws {
        let server = TestHTTPServer()
        defer { server.stop() }
        let transport = UpstreamTransport()
        defer { transport.shutdown() }
        let opts = TransportOptions(connectTimeout: 5, idleReadTimeout: 0.5)
        let started = now()
        let (head, body) = try await transport.start(UpstreamRequest(url: server.url("/stall?id=st&n=1")), options: opts)
        #expect(head.status == 200)
        var chunks = 0
        var lastByteAt = now()
        let error = await failure {
            for try await _ in body { chunks += 1; lastByteAt = now() }
        }
        guard case .timedOut? = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(chunks == 1)
        // The idle clock starts when the byte reached the transport, which on a
        // busy machine may be well before this task saw it: the lower bound is
        // counted from the request's start, which is surely earlier.
        #expect(now() - started >= 0.45)
        #expect(now() - lastByteAt < 5, "the idle timeout fired (a generous bound: the machine may be busy)")
        // The connection was closed.
        #expect(await server.waitFor("st", timeout: 3) { $0.closedAt != nil }?.closedAt != nil)
    }

    @Test("headTimeout and totalTimeout")
    func headAndTotalTimeouts() async throws {
        let server = TestHTTPServer()
        defer { server.stop() }
        let transport = UpstreamTransport()
        defer { transport.shutdown() }
        var opts = TransportOptions(connectTimeout: 5, idleReadTimeout: 30, headTimeout: 0.4)
        var t0 = now()
        let e1 = await failure { try await transport.start(UpstreamRequest(url: server.url("/stall-head?id=h1")), options: opts) }
        guard case .timedOut? = e1 else { Issue.record("got \(String(describing: e1))"); return }
        // Generous bounds: the stall never ends by itself, so finishing at all
        // is the timeout's doing; a loaded machine may be slow to report it.
        #expect(now() - t0 < 10)

        opts = TransportOptions(connectTimeout: 5, idleReadTimeout: 30, totalTimeout: 0.6)
        t0 = now()
        let e2 = await failure { try await transport.send(UpstreamRequest(url: server.url("/stall?id=h2&n=1")), options: opts) }
        guard case .timedOut? = e2 else { Issue.record("got \(String(describing: e2))"); return }
        #expect(now() - t0 < 10)
    }

    @Test("invalid requests are refused before anything is sent")
    func invalidRequests() async throws {
        let transport = UpstreamTransport()
        defer { transport.shutdown() }
        let cases: [(UpstreamRequest, TransportOptions)] = [
            (UpstreamRequest(url: "ftp://127.0.0.1/x"), options),
            (UpstreamRequest(url: "not a url"), options),
            (UpstreamRequest(method: "GE T", url: "http://127.0.0.1:1/"), options),
            (UpstreamRequest(url: "http://127.0.0.1:1/", headers: [("X-Bad", "a\r\nInjected: 1")]), options),
            (UpstreamRequest(url: "http://127.0.0.1:1/", headers: [("Bad Name", "x")]), options),
            (UpstreamRequest(url: "http://127.0.0.1:1/"), TransportOptions(proxyURL: "ftp://127.0.0.1:21")),
        ]
        for (request, opts) in cases {
            let error = await failure { try await transport.send(request, options: opts) }
            guard case .invalidRequest? = error else { Issue.record("got \(String(describing: error))"); continue }
        }
    }
}

@Suite(.serialized)
struct CancellationTests {
    @Test("break after 3 chunks aborts the upstream transfer at once")
    func breakAborts() async throws {
        let server = TestHTTPServer()
        defer { server.stop() }
        let transport = UpstreamTransport()
        defer { transport.shutdown() }
        let (_, body) = try await transport.start(UpstreamRequest(url: server.url("/endless?id=b1&delay=30")), options: options)
        var count = 0
        var brokeAt = 0.0
        for try await _ in body {
            count += 1
            if count == 3 { brokeAt = now(); break }
        }
        // `body` is still in scope: the iterator going away is enough.
        let obs = await server.waitFor("b1", timeout: 5) { $0.closedAt != nil }
        let closedAt = try #require(obs?.closedAt, "the server never saw the connection close")
        #expect(closedAt - brokeAt < 5.0)
        _ = body
    }

    @Test("cancelling the consuming task aborts the transfer and throws .cancelled")
    func taskCancellation() async throws {
        let server = TestHTTPServer()
        defer { server.stop() }
        let transport = UpstreamTransport()
        defer { transport.shutdown() }
        let received = Atomic<Int>(0)
        let task = Task { () -> TransportError? in
            await failure {
                let (_, body) = try await transport.start(UpstreamRequest(url: server.url("/endless?id=tc&delay=30")), options: options)
                for try await _ in body { received.add(1, ordering: .relaxed) }
            }
        }
        while received.load(ordering: .relaxed) < 3 { try await Task.sleep(for: .milliseconds(5)) }
        let cancelledAt = now()
        task.cancel()
        let error = await task.value
        #expect(error == .cancelled)
        #expect(now() - cancelledAt < 5.0)
        let obs = await server.waitFor("tc", timeout: 5) { $0.closedAt != nil }
        let closedAt = try #require(obs?.closedAt, "the server never saw the connection close")
        #expect(closedAt - cancelledAt < 5.0)
    }

    @Test("cancelling while the head is awaited aborts too")
    func cancelBeforeHead() async throws {
        let server = TestHTTPServer()
        defer { server.stop() }
        let transport = UpstreamTransport()
        defer { transport.shutdown() }
        let task = Task { () -> TransportError? in
            await failure { try await transport.start(UpstreamRequest(url: server.url("/stall-head?id=cb")), options: options) }
        }
        // Cancel once the request is in (a fixed sleep raced a busy machine).
        _ = await server.waitFor("cb", timeout: 10) { _ in true }
        let cancelledAt = now()
        task.cancel()
        #expect(await task.value == .cancelled)
        #expect(now() - cancelledAt < 5.0)
        let obs = await server.waitFor("cb", timeout: 5) { $0.closedAt != nil }
        #expect(obs?.closedAt != nil)
    }

    @Test("dropping the body unconsumed aborts the transfer")
    func droppedBody() async throws {
        let server = TestHTTPServer()
        defer { server.stop() }
        let transport = UpstreamTransport()
        defer { transport.shutdown() }
        var droppedAt = 0.0
        do {
            let (head, _) = try await transport.start(UpstreamRequest(url: server.url("/endless?id=dr&delay=30")), options: options)
            #expect(head.status == 200)
            droppedAt = now()
        }
        let obs = await server.waitFor("dr", timeout: 5) { $0.closedAt != nil }
        let closedAt = try #require(obs?.closedAt, "the server never saw the connection close")
        #expect(closedAt - droppedAt < 5.0)
    }

    @Test("an aborted connection is not kept open by a child process spawned meanwhile")
    func socketsAreCloseOnExec() async throws {
        let server = TestHTTPServer()
        defer { server.stop() }
        let transport = UpstreamTransport()
        defer { transport.shutdown() }
        let (_, body) = try await transport.start(UpstreamRequest(url: server.url("/endless?id=ce&delay=30")), options: options)
        let child = try #require(await offPool { ChildProcess(["sleep", "5"]) })
        defer { child.terminate() }
        var count = 0
        var brokeAt = 0.0
        for try await _ in body {
            count += 1
            if count == 3 { brokeAt = now(); break }
        }
        let obs = await server.waitFor("ce", timeout: 3) { $0.closedAt != nil }
        let closedAt = try #require(obs?.closedAt, "the server did not see the connection close while the child lived")
        #expect(closedAt - brokeAt < 5.0)
    }

    @Test("finished, failed and aborted transfers are freed; so is a released transport's engine")
    func nothingLeaks() async throws {
        let server = TestHTTPServer()
        defer { server.stop() }
        weak var engine: Engine?
        var transfers: [Weak<Transfer>] = []
        do {
            let transport = UpstreamTransport()
            engine = transport.engine
            let (_, b1) = try await transport.start(UpstreamRequest(url: server.url("/json")), options: options)
            _ = try await b1.collect()
            transfers.append(Weak(b1.handle.transfer))
            let (_, b2) = try await transport.start(UpstreamRequest(url: server.url("/endless?delay=10")), options: options)
            for try await _ in b2 { break }
            transfers.append(Weak(b2.handle.transfer))
            let (_, b3) = try await transport.start(UpstreamRequest(url: server.url("/reset-mid?n=1")), options: options)
            _ = await failure { try await b3.collect() }
            transfers.append(Weak(b3.handle.transfer))
            _ = await failure { try await transport.start(UpstreamRequest(url: server.url("/reset-head")), options: options) }
        }
        let end = now() + 3
        while now() < end, engine != nil || transfers.contains(where: { $0.value != nil }) {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(engine == nil)
        #expect(transfers.allSatisfy { $0.value == nil })
    }

    @Test("shutdown cancels running transfers and refuses new ones")
    func shutdown() async throws {
        let server = TestHTTPServer()
        defer { server.stop() }
        let transport = UpstreamTransport()
        let (_, body) = try await transport.start(UpstreamRequest(url: server.url("/endless?id=sd&delay=30")), options: options)
        var it = body.makeAsyncIterator()
        _ = try await it.next()
        transport.shutdown()
        let error = await failure { while try await it.next() != nil {} }
        #expect(error == .cancelled)
        #expect(await server.waitFor("sd", timeout: 5) { $0.closedAt != nil }?.closedAt != nil)
        let later = await failure { try await transport.send(UpstreamRequest(url: server.url("/json")), options: options) }
        #expect(later == .cancelled)
    }
}

@Suite(.serialized)
struct ProxyTests {
    @Test("SOCKS5 without authentication")
    func socks5() async throws {
        let server = TestHTTPServer()
        let proxy = SOCKS5Proxy()
        defer { server.stop(); proxy.stop() }
        let transport = UpstreamTransport()
        defer { transport.shutdown() }
        var opts = options
        opts.proxyURL = "socks5://127.0.0.1:\(proxy.port)"
        let (head, body) = try await transport.send(UpstreamRequest(url: server.url("/json?id=x1")), options: opts)
        #expect(head.status == 200)
        #expect(text(body).contains("x1"))
        #expect(proxy.tunnels.load(ordering: .relaxed) == 1)
        #expect(proxy.log.withLock { $0.targets } == ["ipv4 127.0.0.1:\(server.port)"])
    }

    @Test("SOCKS5h with user and percent-encoded password; the proxy resolves the name")
    func socks5hWithAuth() async throws {
        let server = TestHTTPServer()
        let proxy = SOCKS5Proxy(credentials: ("user", "pa:ss@1"))
        defer { server.stop(); proxy.stop() }
        let transport = UpstreamTransport()
        defer { transport.shutdown() }
        var opts = options
        opts.proxyURL = "socks5h://user:pa%3Ass%401@127.0.0.1:\(proxy.port)"
        let (head, body) = try await transport.start(UpstreamRequest(url: server.url("/sse?id=x2&n=3&delay=20", host: "localhost")), options: opts)
        #expect(head.status == 200)
        #expect(text(try await body.collect()).contains("\"i\":2"))
        #expect(proxy.tunnels.load(ordering: .relaxed) == 1)
        #expect(proxy.log.withLock { $0.targets } == ["domain localhost:\(server.port)"])
        #expect(proxy.log.withLock { $0.users } == ["user"])
    }

    @Test("SOCKS5 with wrong credentials is proxyFailed, without the password in the message")
    func socks5WrongPassword() async throws {
        let server = TestHTTPServer()
        let proxy = SOCKS5Proxy(credentials: ("user", "right"))
        defer { server.stop(); proxy.stop() }
        let transport = UpstreamTransport()
        defer { transport.shutdown() }
        var opts = options
        opts.proxyURL = "socks5://user:WRONG-PASSWORD@127.0.0.1:\(proxy.port)"
        let error = await failure { try await transport.send(UpstreamRequest(url: server.url("/json")), options: opts) }
        guard case .proxyFailed(let message)? = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(message.contains("127.0.0.1:\(proxy.port)"))
        #expect(!message.contains("WRONG-PASSWORD"))
        #expect(proxy.log.withLock { $0.rejected } == 1)
        #expect(server.accepted.load(ordering: .relaxed) == 0)
    }

    @Test("HTTP proxy with Basic auth, used as a CONNECT tunnel")
    func httpProxyBasicAuth() async throws {
        let server = TestHTTPServer()
        let proxy = HTTPConnectProxy(credentials: ("alice", "s3cr:t"))
        defer { server.stop(); proxy.stop() }
        let transport = UpstreamTransport()
        defer { transport.shutdown() }
        var opts = options
        opts.proxyURL = "http://alice:s3cr%3At@127.0.0.1:\(proxy.port)"
        for i in 0..<3 {
            let (head, body) = try await transport.send(UpstreamRequest(url: server.url("/json?id=hp\(i)")), options: opts)
            #expect(head.status == 200)
            #expect(text(body).contains("hp\(i)"))
        }
        #expect(proxy.tunnels.load(ordering: .relaxed) == 1)
        #expect(proxy.forwardRequests.load(ordering: .relaxed) == 0)
        #expect(server.accepted.load(ordering: .relaxed) == 1)
    }

    @Test("HTTP proxy with wrong credentials is proxyFailed")
    func httpProxyWrongCredentials() async throws {
        let server = TestHTTPServer()
        let proxy = HTTPConnectProxy(credentials: ("alice", "right"))
        defer { server.stop(); proxy.stop() }
        let transport = UpstreamTransport()
        defer { transport.shutdown() }
        var opts = options
        opts.proxyURL = "http://alice:WRONG-PASSWORD@127.0.0.1:\(proxy.port)"
        let error = await failure { try await transport.send(UpstreamRequest(url: server.url("/json")), options: opts) }
        guard case .proxyFailed(let message)? = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(message.contains("407"))
        #expect(!message.contains("WRONG-PASSWORD"))
        #expect(proxy.rejected.load(ordering: .relaxed) == 1)
        #expect(server.accepted.load(ordering: .relaxed) == 0)
    }

    @Test("HTTPS proxy (TLS to the proxy, verified with caFile) with Basic auth")
    func httpsProxy() async throws {
        let server = TestHTTPServer()
        defer { server.stop() }
        let started: (ChildProcess, String, String, Int)? = await offPool {
            let dir = makeTempDir()
            guard let (cert, key) = makeSelfSignedCertificate(in: dir),
                  writeFile(dir + "/https_proxy.py", httpsProxyScript),
                  let child = ChildProcess(["python3", dir + "/https_proxy.py", cert, key, "bob", "p@ss"]),
                  let line = child.readLine(), let port = Int(line)
            else { removeTree(dir); return nil }
            return (child, dir, cert, port)
        }
        let (child, dir, cert, port) = try #require(started, "openssl or python3 failed")
        defer { child.terminate(); removeTree(dir) }
        let transport = UpstreamTransport()
        defer { transport.shutdown() }

        var opts = options
        opts.proxyURL = "https://bob:p%40ss@127.0.0.1:\(port)"
        // Without the CA the proxy's certificate is refused.
        let error = await failure { try await transport.send(UpstreamRequest(url: server.url("/json")), options: opts) }
        guard case .tlsFailed(let message)? = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(message.hasPrefix("proxy 127.0.0.1:\(port): "))
        #expect(!message.contains("p@ss") && !message.contains("p%40ss"))

        opts.caFile = cert
        let (head, body) = try await transport.send(UpstreamRequest(url: server.url("/json?id=hs")), options: opts)
        #expect(head.status == 200)
        #expect(text(body).contains("hs"))
        #expect(await offPool { child.readLine(timeout: 3) } == "tunnel 127.0.0.1:\(server.port)")

        opts.proxyURL = "https://bob:wrong@127.0.0.1:\(port)"
        let rejected = await failure { try await transport.send(UpstreamRequest(url: server.url("/json")), options: opts) }
        guard case .proxyFailed? = rejected else { Issue.record("got \(String(describing: rejected))"); return }
    }

    @Test("an unreachable proxy is proxyFailed")
    func proxyUnreachable() async throws {
        let server = TestHTTPServer()
        defer { server.stop() }
        let transport = UpstreamTransport()
        defer { transport.shutdown() }
        for scheme in ["socks5", "http"] {
            var opts = options
            let port = refusedPort()
            opts.proxyURL = "\(scheme)://u:TOPSECRET@127.0.0.1:\(port)"
            let error = await failure { try await transport.send(UpstreamRequest(url: server.url("/json")), options: opts) }
            guard case .proxyFailed(let message)? = error else { Issue.record("\(scheme): got \(String(describing: error))"); continue }
            #expect(message.contains("127.0.0.1:\(port)"))
            #expect(!message.contains("TOPSECRET"))
        }
        #expect(server.accepted.load(ordering: .relaxed) == 0)
    }
}

/// HTTP/2 over TLS against node's http2 server, when node is installed.
@Suite(.serialized, .enabled(if: commandExists("node")))
struct HTTP2Tests {
    final class NodeH2Server: Sendable {
        let dir: String, cert: String, port: Int
        private let child: ChildProcess
        init?() {
            dir = makeTempDir()
            guard let (cert, key) = makeSelfSignedCertificate(in: dir),
                  writeFile(dir + "/h2_server.js", h2ServerScript),
                  let child = ChildProcess(["node", dir + "/h2_server.js", cert, key]),
                  let line = child.readLine(), let port = Int(line)
            else { removeTree(dir); return nil }
            self.cert = cert
            self.child = child
            self.port = port
        }
        func stop() { child.terminate(); removeTree(dir) }
        func url(_ p: String) -> String { "https://127.0.0.1:\(port)\(p)" }
    }

    @Test("10 concurrent streams are multiplexed on one HTTP/2 connection; break resets the stream")
    func multiplexing() async throws {
        let server = try #require(await offPool { NodeH2Server() }, "openssl or node failed")
        defer { server.stop() }
        let transport = UpstreamTransport()
        defer { transport.shutdown() }
        var o = options
        o.caFile = server.cert
        let opts = o
        let bodies = await withTaskGroup(of: (String?, String).self) { group in
            for _ in 0..<10 {
                group.addTask {
                    do throws(TransportError) {
                        let (head, body) = try await transport.start(UpstreamRequest(url: server.url("/sse?n=10&delay=10")), options: opts)
                        return (head.value(of: "x-http-version"), text(try await body.collect()))
                    } catch {
                        return (nil, "\(error)")
                    }
                }
            }
            var all: [(String?, String)] = []
            for await r in group { all.append(r) }
            return all
        }
        let expected = (0..<10).map { "data: \($0)\n\n" }.joined()
        for (version, body) in bodies {
            #expect(version == "2.0")
            #expect(body == expected)
        }

        let (_, endless) = try await transport.start(UpstreamRequest(url: server.url("/endless?id=e1")), options: opts)
        var n = 0
        for try await _ in endless { n += 1; if n == 3 { break } }
        try await Task.sleep(for: .milliseconds(300))
        let (_, stats) = try await transport.send(UpstreamRequest(url: server.url("/stats?id=e1")), options: opts)
        #expect(text(stats) == "{\"sessions\":1,\"closed\":true}")
    }

    @Test("a paused HTTP/2 stream resumes when the consumer catches up")
    func backpressureOverHTTP2() async throws {
        let server = try #require(await offPool { NodeH2Server() }, "openssl or node failed")
        defer { server.stop() }
        let transport = UpstreamTransport()
        defer { transport.shutdown() }
        var opts = options
        opts.caFile = server.cert
        opts.idleReadTimeout = 0.5
        let size = 32 << 20
        let (head, body) = try await transport.start(UpstreamRequest(url: server.url("/big?size=\(size)")), options: opts)
        #expect(head.status == 200)
        var it = body.makeAsyncIterator()
        var total = try await it.next()?.count ?? 0
        try await Task.sleep(for: .milliseconds(1200))
        let buffered = body.handle.transfer.bufferedBytes
        #expect(buffered <= Transfer.highWater + 256 * 1024)
        #expect(buffered >= Transfer.highWater / 2)
        // Other streams on the same connection are not held up meanwhile: this
        // one completes while the big stream stays paused (nothing consumes it
        // until after), which a connection blocked behind it never could. No
        // time bound beyond the timeout: a loaded machine is slow, not wrong.
        var quick = opts
        quick.totalTimeout = 30
        let (_, during) = try await transport.send(UpstreamRequest(url: server.url("/stats")), options: quick)
        #expect(text(during).hasPrefix("{\"sessions\":1,"))
        while let chunk = try await it.next() { total += chunk.count }
        #expect(total == size)
        // The connection is still good for more streams.
        let (_, stats) = try await transport.send(UpstreamRequest(url: server.url("/stats")), options: opts)
        #expect(text(stats).hasPrefix("{\"sessions\":1,"))
    }

    @Test(".http1 stays on HTTP/1.1 over TLS")
    func http1Preference() async throws {
        let server = try #require(await offPool { NodeH2Server() }, "openssl or node failed")
        defer { server.stop() }
        let transport = UpstreamTransport()
        defer { transport.shutdown() }
        var opts = options
        opts.caFile = server.cert
        opts.httpVersion = .http1
        let (head, _) = try await transport.send(UpstreamRequest(url: server.url("/sse?n=1")), options: opts)
        #expect(head.value(of: "x-http-version") == "1.1")
    }
}


@Suite
struct HelperTests {
    @Test("URL parts: userinfo, IPv6, default ports, rejects")
    func urlParts() throws {
        let u = try #require(URLParts("HTTP://us%3Aer:pa@[::1]:8080/v1/x?key=abc#f"))
        #expect(u.scheme == "http")
        #expect(u.userinfo == "us%3Aer:pa")
        #expect(u.host == "[::1]")
        #expect(u.port == 8080)
        #expect(u.rest == "/v1/x?key=abc#f")
        #expect(URLParts("https://api.example.com")?.hostPort(defaultPort: 443) == "api.example.com:443")
        #expect(URLParts("https://api.example.com?x=1")?.rest == "?x=1")
        #expect(URLParts("http://host:99999/") == nil)
        #expect(URLParts("http://ho st/") == nil)
        #expect(URLParts("http:///path") == nil)
        #expect(URLParts("no-scheme.example.com") == nil)
    }

    @Test("redaction and percent-decoding")
    func redaction() {
        #expect(percentDecoded("pa%3Ass%40%zz") == "pa:ss@%zz")
        let secrets = ["http://h/p?key=SECRET1", "/p?key=SECRET1", "SECRET1", "ab"]
        #expect(redacted("bad URL http://h/p?key=SECRET1 and SECRET1; ab stays", secrets: secrets)
            == "bad URL <redacted> and <redacted>; ab stays")
    }

    @Test("head lookups are case-insensitive and keep order")
    func headLookups() {
        let head = UpstreamHead(status: 200, headers: [("Set-Cookie", "a"), ("content-type", "x"), ("set-cookie", "b")])
        #expect(head.value(of: "SET-COOKIE") == "a")
        #expect(head.values(of: "set-cookie") == ["a", "b"])
        #expect(head.value(of: "Content-Type") == "x")
        #expect(head.value(of: "missing") == nil)
    }
}
