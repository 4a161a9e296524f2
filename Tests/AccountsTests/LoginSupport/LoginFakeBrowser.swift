import Synchronization
import UpstreamTransport
@testable import Accounts

/// A browser for the tests: "opening" the authorize URL GETs it from the
/// fake provider, which answers 302 to the login's callback; the browser
/// follows it (to 127.0.0.1 rather than `localhost`, so that only IPv4
/// loopback traffic happens). With `tamperFirst` it first visits the
/// callback with a forged `state`.
final class LoginFakeBrowser: BrowserOpener {
    struct Visit: Sendable {
        var status: Int
        var body: String
    }

    static let transport = UpstreamTransport()
    let tamperFirst: Bool
    private let opened = Mutex<[String]>([])
    private let visitLog = Mutex<[Visit]>([])
    private let tasks = Mutex<[Task<Void, Never>]>([])

    init(tamperFirst: Bool = false) { self.tamperFirst = tamperFirst }

    var openedURLs: [String] { opened.withLock { $0 } }
    var visits: [Visit] { visitLog.withLock { $0 } }

    func open(_ url: String) -> Bool {
        opened.withLock { $0.append(url) }
        let task = Task { await self.browse(url) }
        tasks.withLock { $0.append(task) }
        return true
    }

    /// Waits until every visit started by `open` is done.
    func settle() async {
        for t in tasks.withLock({ $0 }) { await t.value }
    }

    private func browse(_ url: String) async {
        guard let location = try? await Self.location(after: url) else { return }
        if tamperFirst {
            let forged = location.replacing(#/state=[^&]*/#, with: "state=forged0000")
            await visit(forged)
        }
        await visit(location)
    }

    private func visit(_ url: String) async {
        let options = TransportOptions(connectTimeout: 5, idleReadTimeout: 10, totalTimeout: 20)
        guard let (head, body) = try? await Self.transport.send(UpstreamRequest(url: url), options: options) else {
            visitLog.withLock { $0.append(Visit(status: 0, body: "")) }
            return
        }
        visitLog.withLock { $0.append(Visit(status: head.status, body: String(decoding: body, as: UTF8.self))) }
    }

    /// GETs the authorize URL and returns where the provider redirects,
    /// with `localhost` pinned to 127.0.0.1.
    static func location(after authorizeURL: String) async throws -> String {
        let options = TransportOptions(connectTimeout: 5, idleReadTimeout: 10, totalTimeout: 20)
        let (head, _) = try await transport.send(UpstreamRequest(url: authorizeURL), options: options)
        guard head.status == 302, let location = head.value(of: "Location") else { throw TransportError.invalidRequest("no redirect") }
        return location.replacing("://localhost:", with: "://127.0.0.1:")
    }
}
