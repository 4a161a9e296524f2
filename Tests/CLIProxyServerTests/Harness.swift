import CLIProxyServer
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ProxyConfig
import RuleEngine
import ServiceLifecycle
import Synchronization
import Testing
import UpstreamTransport
#if canImport(Glibc)
import Glibc
#endif

/// The repository's own folders.
enum Repo {
    static let root: String = {
        let here = #filePath
        return String(here[..<here.firstRange(of: "/Tests/")!.lowerBound])
    }()
    static var rules: String { root + "/Rules" }
    static func fixture(_ pair: String, _ name: String, _ file: String) -> [UInt8] {
        FileSystem.readBytes("\(root)/Fixtures/\(pair)/\(name)/\(file)")!
    }
}

/// What the fake upstream saw.
struct SeenRequest: Sendable {
    var method: String
    var path: String
    var headers: [(String, String)]
    var body: String
    func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
}

/// How the fake upstream answers one request.
enum FakeReply: Sendable {
    case json(Int, [UInt8], headers: [(String, String)] = [])
    /// Chunks written with a pause before each; `reset` aborts the response
    /// after the last chunk instead of ending it.
    case stream([[UInt8]], pauseMs: Int = 0, reset: Bool = false, headers: [(String, String)] = [])
}

/// An upstream on 127.0.0.1 that answers with canned bodies and records every
/// request — the outside world, faked; everything else in these tests is real.
final class FakeUpstream: Sendable {
    typealias Handler = @Sendable (SeenRequest) -> FakeReply
    let seen = Mutex<[SeenRequest]>([])
    let handler: Mutex<Handler>
    /// Streams whose client went away before the end (observed by a failing write).
    let abandoned = Atomic<Int>(0)
    private let task: Mutex<Task<Void, any Error>?> = Mutex(nil)
    private let portBox = Mutex<Int>(0)

    init(_ handler: @escaping Handler) { self.handler = Mutex(handler) }

    var port: Int { portBox.withLock { $0 } }
    var url: String { "http://127.0.0.1:\(port)" }
    var requests: [SeenRequest] { seen.withLock { $0 } }
    func set(_ h: @escaping Handler) { handler.withLock { $0 = h } }

    func start() async throws {
        let (started, cont) = AsyncStream.makeStream(of: Int.self)
        let app = Application(responder: Responder(upstream: self),
                              configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { ch in cont.yield(ch.localAddress?.port ?? 0); cont.finish() },
                              logger: Logger(label: "fake-upstream", factory: { _ in SwiftLogNoOpLogHandler() }))
        task.withLock { $0 = Task { try await app.run() } }
        for await p in started { portBox.withLock { $0 = p } }
    }

    func stop() { task.withLock { $0?.cancel() } }

    struct Responder: HTTPResponder {
        typealias Context = BasicRequestContext
        let upstream: FakeUpstream
        func respond(to request: Request, context: Context) async throws -> Response {
            var buffer = try await request.body.collect(upTo: 64 << 20)
            let body = String(decoding: buffer.readBytes(length: buffer.readableBytes) ?? [], as: UTF8.self)
            let seen = SeenRequest(method: "\(request.method)", path: request.uri.description,
                                   headers: request.headers.map { ($0.name.canonicalName, $0.value) }, body: body)
            upstream.seen.withLock { $0.append(seen) }
            switch upstream.handler.withLock({ $0 })(seen) {
            case .json(let status, let bytes, let extra):
                var headers = HTTPFields()
                headers[.contentType] = "application/json"
                for (k, v) in extra { headers[HTTPField.Name(k)!] = v }
                return Response(status: .init(code: status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
            case .stream(let chunks, let pause, let reset, let extra):
                var headers = HTTPFields()
                headers[.contentType] = "text/event-stream"
                for (k, v) in extra { headers[HTTPField.Name(k)!] = v }
                let up = upstream
                return Response(status: .ok, headers: headers, body: ResponseBody { writer in
                    do {
                        for c in chunks {
                            if pause > 0 { try await Task.sleep(for: .milliseconds(pause)) }
                            try await writer.write(ByteBuffer(bytes: c))
                        }
                    } catch {
                        up.abandoned.add(1, ordering: .relaxed)
                        throw error
                    }
                    if reset { throw CancellationError() }  // the connection is closed without the final chunk
                    try await writer.finish(nil)
                })
            }
        }
    }
}

/// The real cliproxy server, in this process, on an ephemeral port.
final class TestServer: Sendable {
    let configPath: String
    let directory: String
    let server: CLIProxyServer
    private let task: Mutex<Task<Void, any Error>?> = Mutex(nil)
    private let portBox = Mutex<Int>(0)
    var port: Int { portBox.withLock { $0 } }
    var base: String { "http://127.0.0.1:\(port)" }

    /// `yaml` is the config; `rules` a rules folder (default: the repository's).
    /// `authFiles` are credential files (name → JSON text) put in the auth directory before the start.
    init(yaml: String, rules: String? = nil, reload: Bool = false, authFiles: [String: String] = [:],
         connections: ClientConnections = ClientConnections()) async throws {
        var template = Array("/tmp/cliproxy-test-XXXXXX".utf8CString)
        directory = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
        configPath = directory + "/config.yaml"
        // Never the user's own ~/.cli-proxy-api: accounts come only from the test's folder.
        FileSystem.write(configPath, yaml.contains("auth-dir:") ? yaml : yaml + "\nauth-dir: \(directory)/auth\n")
        if !authFiles.isEmpty {
            mkdir(directory + "/auth", 0o700)
            for (name, text) in authFiles { FileSystem.write(directory + "/auth/" + name, text) }
        }
        let health = CredentialHealth()
        let logger = Logger(label: "cliproxy-test", factory: { _ in SwiftLogNoOpLogHandler() })
        let state = try await ServerState.load(configPath: configPath, rulesDir: rules ?? Repo.rules, health: health, threads: 2, logger: logger)
        server = CLIProxyServer(state: state, health: health, logger: logger, rulesOverride: rules ?? Repo.rules)
        let (started, cont) = AsyncStream.makeStream(of: Int.self)
        let app = server.application(port: 0, reload: reload, connections: connections, onRunning: { p in cont.yield(p); cont.finish() })
        task.withLock { $0 = Task { try await app.run() } }
        for await p in started { portBox.withLock { $0 = p } }
    }

    /// Stops serving and closes the usage database (as `serve` does on a signal).
    func stop() {
        task.withLock { $0?.cancel() }
        server.usage.close()
    }

    func rewriteConfig(_ yaml: String) { FileSystem.write(configPath, yaml.contains("auth-dir:") || yaml.hasPrefix("port: [") ? yaml : yaml + "\nauth-dir: \(directory)/auth\n") }
    var authDir: String { directory + "/auth" }
}

/// An HTTP client for the tests: the project's own libcurl transport.
struct Client {
    static let transport = UpstreamTransport()
    var base: String
    var options = TransportOptions(connectTimeout: 5, idleReadTimeout: 20, totalTimeout: 60)

    func call(_ path: String, _ body: String = "", method: String = "POST", headers: [(String, String)] = []) async throws -> (Int, [(String, String)], String) {
        let req = UpstreamRequest(method: method, url: base + path, headers: [("content-type", "application/json")] + headers, body: Array(body.utf8))
        let (head, bytes) = try await Self.transport.send(req, options: options)
        return (head.status, head.headers, String(decoding: bytes, as: UTF8.self))
    }

    /// Opens a stream: the head, and the body to read incrementally.
    func stream(_ path: String, _ body: String, headers: [(String, String)] = []) async throws -> (UpstreamHead, UpstreamBody) {
        let req = UpstreamRequest(method: "POST", url: base + path, headers: [("content-type", "application/json")] + headers, body: Array(body.utf8))
        return try await Self.transport.start(req, options: options)
    }
}

func header(_ headers: [(String, String)], _ name: String) -> String? {
    headers.first { $0.0.lowercased() == name.lowercased() }?.1
}

/// Polls until `condition` holds (reloads are asynchronous), for at most `seconds`.
func eventually(_ seconds: Double = 5, _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = RuleEngine.Clock.nanoseconds() + UInt64(seconds * 1e9)
    while RuleEngine.Clock.nanoseconds() < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return try await condition()
}

extension String {
    /// The fixture request with its model replaced (a test's own model names).
    func replacingModel(with model: String) -> String {
        guard let r = firstRange(of: "\"model\": \"") ?? firstRange(of: "\"model\":\"") else { return self }
        let rest = self[r.upperBound...]
        guard let end = rest.firstIndex(of: "\"") else { return self }
        return String(self[..<r.upperBound]) + model + String(rest[end...])
    }
}
