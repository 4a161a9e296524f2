import Foundation
import RuleEngine
import Synchronization
import Testing
import UpstreamTransport
@testable import CLIProxyServer

/// An OpenAI-compatible upstream stream of `n` text deltas, one chunk each.
func chatChunks(_ n: Int, finish: Bool = true) -> [[UInt8]] {
    let head = #"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1782321897,"model":"upstream-model","choices":[{"index":0,"delta":"#
    var out = [Array("data: \(head){\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n".utf8)]
    for i in 0..<n { out.append(Array("data: \(head){\"content\":\"part\(i) \"},\"finish_reason\":null}]}\n\n".utf8)) }
    if finish {
        out.append(Array("data: \(head){},\"finish_reason\":\"stop\"}]}\n\n".utf8))
        out.append(Array("data: [DONE]\n\n".utf8))
    }
    return out
}

@Suite(.serialized) struct StreamingTests {
    @Test func clientGoingAwayCancelsTheUpstream() async throws {
        let fake = FakeUpstream { _ in .stream(chatChunks(100), pauseMs: 50) }
        try await fake.start(); defer { fake.stop() }
        let server = try await TestServer(yaml: config(fake)); defer { server.stop() }
        let client = Client(base: server.base)
        // Same dialect (verbatim relay) and translated (Claude client).
        for (dialect, n) in [("openai", 1), ("claude", 2)] {
            let (path, body) = clientRequest(dialect, model: "my-model", stream: true)
            let (head, stream) = try await client.stream(path, body)
            #expect(head.status == 200)
            var it = stream.makeAsyncIterator()
            _ = try await it.next()
            stream.cancel()  // the client goes away after its first chunk
            let gone = await eventually(5) { fake.abandoned.load(ordering: .relaxed) >= n }
            #expect(gone, "\(dialect): the upstream transfer was aborted")
        }
    }

    @Test func upstreamResetMidStreamEndsInTheDialectsError() async throws {
        let fake = FakeUpstream { _ in .stream(chatChunks(3, finish: false), reset: true) }
        try await fake.start(); defer { fake.stop() }
        let server = try await TestServer(yaml: config(fake)); defer { server.stop() }
        let client = Client(base: server.base)
        let (cp, cb) = clientRequest("claude", model: "my-model", stream: true)
        let (status, _, claude) = try await client.call(cp, cb)
        #expect(status == 200)
        #expect(claude.contains("part2") && claude.contains("event: error"), "\(claude)")
        #expect(!claude.contains("message_stop"), "no success terminator after a broken stream (pitfall 52)")
        let (rp, rb) = clientRequest("responses", model: "my-model", stream: true)
        let (_, _, responses) = try await client.call(rp, rb)
        #expect(responses.contains("response.failed") && !responses.contains("response.completed"), "\(responses.suffix(400))")
        let (gp, gb) = clientRequest("gemini", model: "my-model", stream: true)
        let (_, _, gemini) = try await client.call(gp, gb)
        #expect(gemini.contains("\"error\""), "\(gemini.suffix(300))")
    }

    @Test func anUpstreamThatFailsBeforeItsFirstEventIsAnHTTPError() async throws {
        // A 200 whose stream ends before any event: nothing was sent yet, so
        // the client gets an HTTP error in its dialect, not a broken stream.
        let fake = FakeUpstream { _ in .stream([], reset: true) }
        try await fake.start(); defer { fake.stop() }
        let server = try await TestServer(yaml: config(fake)); defer { server.stop() }
        let (path, body) = clientRequest("claude", model: "my-model", stream: true)
        let (status, headers, reply) = try await Client(base: server.base).call(path, body)
        #expect(status >= 500, "\(status) \(reply)")
        #expect(header(headers, "content-type")?.hasPrefix("application/json") == true)
        #expect(reply.contains("\"type\":\"error\""), "\(reply)")
    }

    @Test func geminiStreamWithoutAltIsAJSONArray() async throws {
        let fake = FakeUpstream(dialectUpstream())
        try await fake.start(); defer { fake.stop() }
        let server = try await TestServer(yaml: config(fake)); defer { server.stop() }
        for model in ["gemini-2.5-pro", "my-model"] {
            let (status, headers, reply) = try await Client(base: server.base).call("/v1beta/models/\(model):streamGenerateContent",
                String(decoding: Repo.fixture("gemini-gemini", "tools", "client_request.json"), as: UTF8.self))
            #expect(status == 200 && header(headers, "content-type") == "application/json")
            let parsed = try JSONSerialization.jsonObject(with: Data(reply.utf8)) as? [Any]
            #expect((parsed?.count ?? 0) >= 1, "\(model): \(reply)")
            #expect(reply.contains("Florence"))
        }
    }
}

@Suite(.serialized) struct ReloadTests {
    /// A private copy of the rules, to edit while the server runs.
    static func rulesCopy() -> String {
        var template = Array("/tmp/cliproxy-rules-copy-XXXXXX".utf8CString)
        let dir = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
        for rel in FileSystem.walk(Repo.rules) {
            let dest = dir + "/" + rel
            FileSystem.makeDirectories(String(dest[..<dest.lastIndex(of: "/")!]))
            FileSystem.write(dest, FileSystem.readBytes(Repo.rules + "/" + rel)!)
        }
        return dir
    }

    @Test func rulesAndConfigReloadWhileServing() async throws {
        let fake = FakeUpstream(dialectUpstream())
        try await fake.start(); defer { fake.stop() }
        let rules = Self.rulesCopy()
        let server = try await TestServer(yaml: config(fake), rules: rules, reload: true); defer { server.stop() }
        let client = Client(base: server.base)

        // Traffic all along: no request may fail while rules and config change.
        let failures = Atomic<Int>(0), served = Atomic<Int>(0)
        let failed = Mutex<[String]>([])
        let traffic = Task {
            while !Task.isCancelled {
                let (path, body) = clientRequest("claude", model: "gemini-2.5-pro", stream: false)
                do {
                    let (status, _, reply) = try await client.call(path, body, headers: [("x-api-key", "k-new")])
                    if status == 200 { served.add(1, ordering: .relaxed) } else {
                        failures.add(1, ordering: .relaxed); failed.withLock { $0.append("\(status) \(reply.prefix(200))") }
                    }
                } catch {
                    if Task.isCancelled { break }  // the test ended the traffic mid-request
                    failures.add(1, ordering: .relaxed); failed.withLock { $0.append("\(error)") }
                }
            }
        }

        // A rule change is picked up.
        FileSystem.write(rules + "/openai/models.jq", """
        def encode($ctx): {object: "list", data: [.models[] | {id, object: "model", created, owned_by: "reloaded"}]};
        def encode_one($ctx): {id, object: "model", created, owned_by: "reloaded"};
        """)
        // A rule set compiles in about a second here, but 15 s and more on a
        // loaded 2-core machine (measured at load 11): wait generously.
        #expect(await eventually(180) { (try? await client.call("/v1/models", method: "GET").2.contains("reloaded")) == true })

        // A broken rule is refused; the running rules keep serving.
        FileSystem.write(rules + "/openai/models.jq", "def encode($ctx): {object: ;\n")
        try await Task.sleep(for: .milliseconds(1500))
        let (s, _, list) = try await client.call("/v1/models", method: "GET")
        #expect(s == 200 && list.contains("reloaded"), "\(list)")

        // A config change: client keys now required.
        server.rewriteConfig(config(fake, extra: "api-keys: [\"k-new\"]\nhost: 127.0.0.1"))
        #expect(await eventually(180) { (try? await client.call("/v1/models", method: "GET").0) == 401 })
        let (ks, _, kr) = try await client.call("/v1/models", method: "GET", headers: [("authorization", "Bearer k-new")])
        #expect(ks == 200, "\(kr)")

        // A broken config is refused; the running one stays.
        server.rewriteConfig("port: [\n")
        try await Task.sleep(for: .milliseconds(1500))
        #expect(try await client.call("/v1/models", method: "GET").0 == 401)

        // An emptied file (an in-place save caught after its truncate) is refused too:
        // it would parse to all defaults and serve no provider.
        FileSystem.write(server.configPath, [])
        try await Task.sleep(for: .milliseconds(1500))
        #expect(try await client.call("/v1/models", method: "GET").0 == 401)

        traffic.cancel()
        _ = await traffic.result
        // Traffic really ran across the reloads (how much depends on the machine's load).
        #expect(served.load(ordering: .relaxed) > 0)
        // Before the key was required the traffic's key was simply ignored; after, it is the right key.
        #expect(failures.load(ordering: .relaxed) == 0, "requests failed during reloads: \(failed.withLock { $0 })")
    }
}

@Suite(.serialized) struct ProxyURLTests {
    @Test func socks5ProxyCarriesUpstreamTraffic() async throws {
        let fake = FakeUpstream(dialectUpstream())
        try await fake.start(); defer { fake.stop() }
        let proxy = SOCKS5Proxy(credentials: ("user", "p:ss@word"))
        defer { proxy.stop() }
        let server = try await TestServer(yaml: config(fake, extra: "proxy-url: \"socks5://user:p%3Ass%40word@127.0.0.1:\(proxy.port)\"")); defer { server.stop() }
        let (path, body) = clientRequest("openai", model: "gemini-2.5-pro", stream: false)
        let (status, _, reply) = try await Client(base: server.base).call(path, body)
        #expect(status == 200, "\(reply)")
        #expect(proxy.tunnels.load(ordering: .relaxed) >= 1)
        #expect(proxy.log.withLock { $0.users }.contains("user"))
    }

    @Test func httpProxyCarriesUpstreamTraffic() async throws {
        let fake = FakeUpstream(dialectUpstream())
        try await fake.start(); defer { fake.stop() }
        let proxy = HTTPConnectProxy(credentials: ("user", "secret"))
        defer { proxy.stop() }
        let server = try await TestServer(yaml: config(fake, extra: "proxy-url: \"http://user:secret@127.0.0.1:\(proxy.port)\"")); defer { server.stop() }
        let (path, body) = clientRequest("claude", model: "claude-sonnet-4-20250514", stream: true)
        let (status, _, reply) = try await Client(base: server.base).call(path, body)
        #expect(status == 200 && reply.contains("message_stop"), "\(reply.prefix(300))")
        #expect(proxy.tunnels.load(ordering: .relaxed) >= 1)
        // A wrong proxy password: the upstream is unreachable, said in the client's dialect.
        let bad = try await TestServer(yaml: config(fake, extra: "proxy-url: \"http://user:wrong@127.0.0.1:\(proxy.port)\"")); defer { bad.stop() }
        let (s2, _, r2) = try await Client(base: bad.base).call(path, body)
        #expect(s2 == 502 && r2.contains("unreachable"), "\(r2)")
    }
}
