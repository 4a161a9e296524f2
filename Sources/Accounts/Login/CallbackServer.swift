import Hummingbird
import Logging

/// The loopback HTTP server the provider redirects the browser to:
/// `http://localhost:<port><path>`, on 127.0.0.1 unless told otherwise. Each request to the
/// callback path is judged with ``SignInAnswer``: a wrong or missing `state`
/// gets a 400 "state mismatch" page (the login notes it and keeps waiting);
/// a code or a provider error gets a closing page and is handed to the login
/// after the page has been written, so stopping the server right away does
/// not cut it.
final class CallbackServer: Sendable {
    private let task: Task<Void, Never>

    private init(task: Task<Void, Never>) { self.task = task }

    /// Starts listening; returns once the port is open. `deliver` receives
    /// every judged visit to the callback path (a code, a refusal, or a state
    /// mismatch to note).
    static func start(host: String = "127.0.0.1", port: Int, path: String, expectedState: String,
                      deliver: @escaping @Sendable (SignInAnswer) -> Void) async throws(LoginError) -> CallbackServer {
        enum Start: Sendable { case running, ended(String?) }
        let (started, signal) = AsyncStream.makeStream(of: Start.self)
        let responder = SignInCallbackResponder(path: path, expectedState: expectedState, deliver: deliver)
        let app = Application(responder: responder,
                              configuration: .init(address: .hostname(host, port: port)),
                              onServerRunning: { _ in signal.yield(.running) },
                              logger: Logger(label: "cliproxy.login.callback", factory: { _ in SwiftLogNoOpLogHandler() }))
        let task = Task {
            do {
                try await app.run()
                signal.yield(.ended(nil))
            } catch {
                signal.yield(.ended("\(error)"))
            }
            signal.finish()
        }
        for await event in started {
            switch event {
            case .running:
                return CallbackServer(task: task)
            case .ended(let why):
                throw portError(host: host, port: port, why: why)
            }
        }
        task.cancel()
        throw .cancelled
    }

    /// Stops listening and waits until the port is closed.
    func stop() async {
        task.cancel()
        await task.value
    }

    static func portError(host: String = "127.0.0.1", port: Int, why: String?) -> LoginError {
        let inUse = why.map { $0.lowercased().contains("in use") } ?? false
        let reason = inUse ? "the port is already in use" : (why ?? "the server stopped at once")
        return LoginError(.portBusy, "cannot listen on \(host):\(port) for the sign-in callback (\(reason))",
                          suggestion: "Another program (or another login) is using the port; re-run with --callback-port <a free port>, or close that program.")
    }
}

/// Answers the browser's visit to the callback.
struct SignInCallbackResponder: HTTPResponder {
    typealias Context = BasicRequestContext
    let path: String
    let expectedState: String
    let deliver: @Sendable (SignInAnswer) -> Void

    func respond(to request: Request, context: Context) async throws -> Response {
        guard request.uri.path == path else {
            return Self.page(.notFound, "Not found", "This is cliproxy's sign-in callback; nothing else lives here.")
        }
        let answer = SignInAnswer.judge(URLQuery.parse(Substring(request.uri.query ?? "")), expectedState: expectedState)
        switch answer {
        case .stateMismatch:
            deliver(answer)  // only noted: the login keeps waiting
            return Self.page(.badRequest, "Sign-in not accepted: state mismatch",
                             "This address does not belong to the login that is waiting. Start the sign-in again from the URL cliproxy printed.")
        case .noCode:
            return Self.page(.badRequest, "Sign-in not accepted: no code",
                             "The address carries no authorization code. Start the sign-in again from the URL cliproxy printed.")
        case .refused(let why):
            return Self.page(.ok, "Sign-in failed", "The provider said: \(why). You can close this window.", then: answer, deliver)
        case .code:
            return Self.page(.ok, "Signed in", "You are signed in to cliproxy; you can close this window.", then: answer, deliver)
        }
    }

    /// A small HTML page; with `then`, `deliver` is called once it is written.
    static func page(_ status: HTTPResponse.Status, _ title: String, _ text: String,
                     then answer: SignInAnswer? = nil, _ deliver: (@Sendable (SignInAnswer) -> Void)? = nil) -> Response {
        let html = "<!doctype html><html><head><meta charset=\"utf-8\"><title>\(escape(title))</title></head>"
            + "<body style=\"font-family:sans-serif;margin:3em\"><h1>\(escape(title))</h1><p>\(escape(text))</p></body></html>\n"
        var headers = HTTPFields()
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.cacheControl] = "no-store"
        guard let answer, let deliver else {
            return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
        }
        headers[.contentLength] = "\(html.utf8.count)"
        return Response(status: status, headers: headers, body: ResponseBody { writer in
            do {
                try await writer.write(ByteBuffer(string: html))
                try await writer.finish(nil)
            } catch {
                deliver(answer)
                throw error
            }
            deliver(answer)
        })
    }

    static func escape(_ text: String) -> String {
        var out = ""
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(c)
            }
        }
        return out
    }
}
