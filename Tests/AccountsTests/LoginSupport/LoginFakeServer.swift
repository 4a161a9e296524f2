import HTTPTypes
import Hummingbird
import Logging
import Synchronization
@testable import Accounts

/// One request a fake provider saw.
struct LoginSeenCall: Sendable {
    var method: String
    var path: String
    var query: [(String, String)]
    var headers: [(String, String)]
    var body: String

    func param(_ name: String) -> String? { query.first { $0.0 == name }?.1 }
    func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
    /// The body's fields: form-encoded, or a flat JSON object of strings.
    var fields: [String: String] {
        if let json = JSONValue.parse(Array(body.utf8)), let o = json.object {
            return o.compactMapValues { $0.string }
        }
        return Dictionary(URLQuery.parse(Substring(body)), uniquingKeysWith: { a, _ in a })
    }
    var json: JSONValue? { JSONValue.parse(Array(body.utf8)) }
}

/// How a fake provider answers.
struct LoginFakeAnswer: Sendable {
    var status: Int
    var body: String
    var headers: [(String, String)] = []

    static func json(_ status: Int = 200, _ text: String) -> LoginFakeAnswer {
        LoginFakeAnswer(status: status, body: text, headers: [("Content-Type", "application/json")])
    }
    static func redirect(_ location: String) -> LoginFakeAnswer {
        LoginFakeAnswer(status: 302, body: "", headers: [("Location", location)])
    }
    static let notFound = LoginFakeAnswer.json(404, #"{"error":"not_found"}"#)
}

/// A provider on 127.0.0.1 (ephemeral port) that answers with a handler
/// and records every request.
final class LoginFakeServer: Sendable {
    typealias Handler = @Sendable (LoginSeenCall) -> LoginFakeAnswer
    private let seen = Mutex<[LoginSeenCall]>([])
    private let handler: Handler
    private let task = Mutex<Task<Void, any Error>?>(nil)
    private let portBox = Mutex<Int>(0)

    init(_ handler: @escaping Handler) { self.handler = handler }

    var port: Int { portBox.withLock { $0 } }
    var url: String { "http://127.0.0.1:\(port)" }
    var requests: [LoginSeenCall] { seen.withLock { $0 } }
    func requests(to path: String) -> [LoginSeenCall] { requests.filter { $0.path == path } }

    func start() async throws {
        let (started, signal) = AsyncStream.makeStream(of: Int.self)
        let app = Application(responder: Responder(server: self),
                              configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { ch in signal.yield(ch.localAddress?.port ?? 0); signal.finish() },
                              logger: Logger(label: "login-fake", factory: { _ in SwiftLogNoOpLogHandler() }))
        task.withLock { $0 = Task { try await app.run() } }
        for await p in started { portBox.withLock { $0 = p } }
    }

    func stop() { task.withLock { $0?.cancel() } }

    struct Responder: HTTPResponder {
        typealias Context = BasicRequestContext
        let server: LoginFakeServer
        func respond(to request: Request, context: Context) async throws -> Response {
            var buffer = try await request.body.collect(upTo: 1 << 20)
            let body = String(decoding: buffer.readBytes(length: buffer.readableBytes) ?? [], as: UTF8.self)
            let call = LoginSeenCall(method: "\(request.method)", path: request.uri.path,
                                     query: URLQuery.parse(Substring(request.uri.query ?? "")),
                                     headers: request.headers.map { ($0.name.canonicalName, $0.value) }, body: body)
            server.seen.withLock { $0.append(call) }
            let answer = server.handler(call)
            var headers = HTTPFields()
            for (k, v) in answer.headers { headers[HTTPField.Name(k)!] = v }
            return Response(status: .init(code: answer.status), headers: headers,
                            body: .init(byteBuffer: ByteBuffer(string: answer.body)))
        }
    }
}
