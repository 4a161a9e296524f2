import Hummingbird
import Logging
import Synchronization
@testable import Accounts

/// What the fake token endpoint saw.
struct StoreTestCall: Sendable {
    var path: String
    var headers: [(String, String)]
    var body: String

    func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }

    /// A form-encoded body's fields (percent-decoded).
    var form: [String: String] {
        var out: [String: String] = [:]
        for pair in body.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1).map { String($0).removingPercentEncodingForTests }
            if kv.count == 2 { out[kv[0]] = kv[1] }
        }
        return out
    }

    /// A JSON body.
    var json: JSONValue? { JSONValue.parse(Array(body.utf8)) }

    /// The refresh token a refresh call carried, form- or JSON-encoded.
    var refreshToken: String? { form["refresh_token"] ?? json?["refresh_token"]?.string }
}

/// How the fake token endpoint answers: status and JSON body.
struct StoreTestReply: Sendable {
    var status: Int
    var body: String
    /// Awaited before answering (to hold a refresh in flight).
    var gate: StoreTestGate? = nil

    static func tokens(_ access: String, expiresIn: Int = 3600, extra: String = "") -> StoreTestReply {
        StoreTestReply(status: 200, body: #"{"access_token":"\#(access)","token_type":"Bearer","expires_in":\#(expiresIn)\#(extra)}"#)
    }
    static func error(_ status: Int, _ code: String) -> StoreTestReply {
        StoreTestReply(status: status, body: #"{"error":"\#(code)","error_description":"told by the fake"}"#)
    }
}

/// A one-shot latch the fake awaits before answering.
final class StoreTestGate: Sendable {
    private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))
    func wait() async {
        await withCheckedContinuation { c in
            let resume = state.withLock { s -> Bool in
                if s.open { return true }
                s.waiters.append(c)
                return false
            }
            if resume { c.resume() }
        }
    }
    func open() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.open = true
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.resume() }
    }
}

/// A token endpoint on 127.0.0.1 that answers with canned replies and
/// records every call.
final class StoreTestServer: Sendable {
    typealias Handler = @Sendable (StoreTestCall) -> StoreTestReply
    private let seen = Mutex<[StoreTestCall]>([])
    private let handler: Mutex<Handler>
    private let task: Mutex<Task<Void, any Error>?> = Mutex(nil)
    private let portBox = Mutex<Int>(0)

    init(_ handler: @escaping Handler) { self.handler = Mutex(handler) }

    var url: String { "http://127.0.0.1:\(portBox.withLock { $0 })" }
    var calls: [StoreTestCall] { seen.withLock { $0 } }
    func calls(to path: String) -> [StoreTestCall] { calls.filter { $0.path == path } }
    func set(_ h: @escaping Handler) { handler.withLock { $0 = h } }

    /// Starts a server; callers `stop()` it.
    static func start(_ handler: @escaping Handler) async throws -> StoreTestServer {
        let s = StoreTestServer(handler)
        let (started, cont) = AsyncStream.makeStream(of: Int.self)
        let app = Application(responder: Responder(server: s),
                              configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { ch in cont.yield(ch.localAddress?.port ?? 0); cont.finish() },
                              logger: Logger(label: "fake-token-endpoint", factory: { _ in SwiftLogNoOpLogHandler() }))
        s.task.withLock { $0 = Task { try await app.run() } }
        for await p in started { s.portBox.withLock { $0 = p } }
        return s
    }

    func stop() { task.withLock { $0?.cancel() } }

    struct Responder: HTTPResponder {
        typealias Context = BasicRequestContext
        let server: StoreTestServer
        func respond(to request: Request, context: Context) async throws -> Response {
            var buffer = try await request.body.collect(upTo: 1 << 20)
            let call = StoreTestCall(path: request.uri.path,
                                     headers: request.headers.map { ($0.name.canonicalName, $0.value) },
                                     body: String(decoding: buffer.readBytes(length: buffer.readableBytes) ?? [], as: UTF8.self))
            server.seen.withLock { $0.append(call) }
            let reply = server.handler.withLock { $0 }(call)
            if let gate = reply.gate { await gate.wait() }
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            return Response(status: .init(code: reply.status), headers: headers,
                            body: .init(byteBuffer: ByteBuffer(bytes: Array(reply.body.utf8))))
        }
    }
}

extension String {
    /// `%XX` and `+` decoding, for form bodies.
    var removingPercentEncodingForTests: String {
        var out: [UInt8] = []
        let b = Array(utf8)
        var i = 0
        while i < b.count {
            if b[i] == 0x25, i + 2 < b.count, let v = UInt8(String(decoding: b[(i + 1)...(i + 2)], as: UTF8.self), radix: 16) {
                out.append(v); i += 3
            } else {
                out.append(b[i] == 0x2B ? 0x20 : b[i]); i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
