import RuleEngine
#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import Testing
@testable import CLIProxyServer

/// Prometheus text (format 0.0.4), read back: `# HELP` / `# TYPE` comments
/// and `name{label="value",…} number` samples. Anything else is an error, so
/// parsing a whole page checks its syntax.
struct PromText {
    /// One sample line.
    struct Sample: Equatable {
        var name: String
        var labels: [String: String]
        var value: Double
    }
    /// A line that is neither a comment nor a well-formed sample.
    struct Malformed: Error, CustomStringConvertible {
        var line: String
        var description: String { "not Prometheus text: \(line)" }
    }

    var samples: [Sample] = []
    var types: [String: String] = [:]
    var help: [String: String] = [:]

    init(_ text: String) throws {
        for raw in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let line = String(raw)
            if line.hasPrefix("#") {
                let parts = line.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: true).map(String.init)
                guard parts.count >= 3 else { continue }  // a plain comment
                if parts[1] == "TYPE" {
                    guard parts.count == 4, ["counter", "gauge", "histogram", "summary", "untyped"].contains(parts[3]),
                          Self.isName(parts[2]) else { throw Malformed(line: line) }
                    types[parts[2]] = parts[3]
                } else if parts[1] == "HELP" {
                    help[parts[2]] = parts.count == 4 ? parts[3] : ""
                }
                continue
            }
            samples.append(try Self.sample(line))
        }
    }

    static func isName(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, !("0"..."9").contains(first) else { return false }
        return s.unicodeScalars.allSatisfy { $0 == "_" || $0 == ":" || ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) }
    }

    static func sample(_ line: String) throws -> Sample {
        var it = Substring(line)
        let nameEnd = it.firstIndex { $0 == "{" || $0 == " " } ?? it.endIndex
        let name = String(it[..<nameEnd])
        guard isName(name) else { throw Malformed(line: line) }
        it = it[nameEnd...]
        var labels: [String: String] = [:]
        if it.first == "{" {
            it = it.dropFirst()
            while it.first != "}" {
                guard let eq = it.firstIndex(of: "=") else { throw Malformed(line: line) }
                let key = String(it[..<eq])
                guard isName(key), labels[key] == nil else { throw Malformed(line: line) }
                it = it[it.index(after: eq)...]
                guard it.first == "\"" else { throw Malformed(line: line) }
                it = it.dropFirst()
                var value = ""
                while true {
                    guard let c = it.first else { throw Malformed(line: line) }
                    it = it.dropFirst()
                    if c == "\"" { break }
                    if c == "\\" {
                        guard let e = it.first else { throw Malformed(line: line) }
                        it = it.dropFirst()
                        switch e {
                        case "n": value.append("\n")
                        case "\\", "\"": value.append(e)
                        default: throw Malformed(line: line)
                        }
                    } else { value.append(c) }
                }
                labels[key] = value
                if it.first == "," { it = it.dropFirst() } else if it.first != "}" { throw Malformed(line: line) }
            }
            it = it.dropFirst()
        }
        guard it.first == " " else { throw Malformed(line: line) }
        let fields = it.split(separator: " ")
        guard (1...2).contains(fields.count) else { throw Malformed(line: line) }  // value [timestamp]
        let text = String(fields[0])
        let value: Double
        switch text {
        case "+Inf": value = .infinity
        case "-Inf": value = -.infinity
        case "NaN": value = .nan
        default:
            guard let v = Double(text) else { throw Malformed(line: line) }
            value = v
        }
        return Sample(name: name, labels: labels, value: value)
    }

    /// The samples of `name` whose labels include `labels`.
    func find(_ name: String, _ labels: [String: String] = [:]) -> [Sample] {
        samples.filter { s in s.name == name && labels.allSatisfy { s.labels[$0.key] == $0.value } }
    }

    /// The value of the one sample of `name` with exactly `labels` (nil when there is none).
    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        samples.first { $0.name == name && $0.labels == labels }?.value
    }
}

/// `GET /metrics` and `ProxyMetrics`: the counters, histograms and gauges, the
/// text format, and the client-key protection.
@Suite(.serialized) struct MetricsTests {
    static let ms: UInt64 = 1_000_000

    static func report(_ dialect: String, provider: String, model: String, status: Int, upstream: UInt64? = nil,
                       firstByte: UInt64? = nil, parse: UInt64 = 0, translate: UInt64 = 0, total: UInt64) -> RequestReport {
        var r = RequestReport(dialect: dialect, endpoint: "/x", clientKey: "", started: 1_000 * ms)
        r.model = model; r.provider = provider; r.status = status
        r.upstreamFirstByte = firstByte; r.upstreamTotal = upstream ?? 0
        r.parse = parse; r.translate = translate
        r.ended = r.started + total
        return r
    }

    static func parse(_ bytes: [UInt8]) throws -> PromText { try PromText(String(decoding: bytes, as: UTF8.self)) }

    // MARK: unit

    @Test func reportsMoveCountersAndHistograms() throws {
        let m = ProxyMetrics()
        let empty = try Self.parse(m.render())
        #expect(empty.find("cliproxy_requests_total").isEmpty)
        #expect(empty.value("cliproxy_active_streams") == 0)

        for _ in 0..<2 {
            m.requestFinished(Self.report("openai", provider: "gemini", model: "gemini-2.5-pro", status: 200,
                                          upstream: 200 * Self.ms, firstByte: 50 * Self.ms, parse: 1 * Self.ms, translate: 2 * Self.ms,
                                          total: 300 * Self.ms))
        }
        m.requestFinished(Self.report("claude", provider: "claude", model: "claude-sonnet-4", status: 429,
                                      upstream: 3_000 * Self.ms, firstByte: 3_000 * Self.ms, total: 3_010 * Self.ms))
        // Never routed: the client's model name is not a label value.
        m.requestFinished(Self.report("claude", provider: "", model: "made-up-\(UInt64.random(in: 0...UInt64.max))", status: 404,
                                      parse: 1 * Self.ms, total: 2 * Self.ms))

        let p = try Self.parse(m.render())
        let requests = "cliproxy_requests_total"
        #expect(p.types[requests] == "counter")
        #expect(p.help[requests]?.isEmpty == false)
        #expect(p.value(requests, ["dialect": "openai", "provider": "gemini", "model": "gemini-2.5-pro", "status": "200"]) == 2)
        #expect(p.value(requests, ["dialect": "claude", "provider": "claude", "model": "claude-sonnet-4", "status": "429"]) == 1)
        #expect(p.value(requests, ["dialect": "claude", "provider": "", "model": "", "status": "404"]) == 1)
        #expect(p.find(requests).count == 3)
        #expect(p.find(requests).allSatisfy { !$0.labels["model", default: ""].hasPrefix("made-up") })

        // Upstream latency and time to first byte, by provider (seconds).
        let latency = "cliproxy_upstream_latency_seconds", ttfb = "cliproxy_upstream_first_byte_seconds"
        #expect(p.types[latency] == "histogram" && p.types[ttfb] == "histogram")
        #expect(p.value(latency + "_count", ["provider": "gemini"]) == 2)
        #expect(abs((p.value(latency + "_sum", ["provider": "gemini"]) ?? 0) - 0.4) < 1e-9)
        #expect(p.value(latency + "_count", ["provider": "claude"]) == 1)
        #expect(p.value(latency + "_bucket", ["provider": "claude", "le": "+Inf"]) == 1)
        #expect(p.value(latency + "_bucket", ["provider": "claude", "le": "2.5"]) == 0)
        #expect(p.value(latency + "_bucket", ["provider": "claude", "le": "5.0"]) == 1)
        #expect(p.value(ttfb + "_bucket", ["provider": "gemini", "le": "0.05"]) == 2)
        #expect(p.value(ttfb + "_bucket", ["provider": "gemini", "le": "0.025"]) == 0)
        #expect(p.find(latency + "_count", ["provider": ""]).isEmpty, "no upstream, no latency sample")

        // The proxy's own time, by phase: every request counts in each phase.
        let overhead = "cliproxy_proxy_overhead_seconds"
        for phase in ["parse", "translate", "relay"] {
            #expect(p.value(overhead + "_count", ["phase": phase]) == 4, "\(phase)")
        }
        #expect(abs((p.value(overhead + "_sum", ["phase": "parse"]) ?? 0) - 0.003) < 1e-9)
        #expect(abs((p.value(overhead + "_sum", ["phase": "translate"]) ?? 0) - 0.004) < 1e-9)
        // relay: 2 × (300 − 1 − 2 − 200) + (3010 − 3000) + (2 − 1) ms
        #expect(abs((p.value(overhead + "_sum", ["phase": "relay"]) ?? 0) - 0.205) < 1e-9)
        // Buckets are cumulative and end with +Inf = count.
        let relayBuckets = p.find(overhead + "_bucket", ["phase": "relay"])
        #expect(relayBuckets.last?.labels["le"] == "+Inf" && relayBuckets.last?.value == 4)
        #expect(zip(relayBuckets, relayBuckets.dropFirst()).allSatisfy { $0.value <= $1.value })
    }

    @Test func activeStreamsAndAccountGauges() throws {
        let m = ProxyMetrics()
        m.streamOpened(); m.streamOpened(); m.streamOpened(); m.streamClosed()
        let p = try Self.parse(m.render())
        #expect(p.types["cliproxy_active_streams"] == "gauge")
        #expect(p.value("cliproxy_active_streams") == 2)
        // Without a server state every account state is there, at zero.
        #expect(p.types["cliproxy_accounts"] == "gauge")
        for state in ["ok", "cooling", "refresh_failing", "needs_login", "disabled"] {
            #expect(p.value("cliproxy_accounts", ["state": state]) == 0, "\(state)")
        }
        // Separate instances keep separate numbers (no global registry).
        #expect(try Self.parse(ProxyMetrics().render()).value("cliproxy_active_streams") == 0)
    }

    /// The process gauges follow the process: a 256 MB malloc shows in the
    /// in-use bytes (not in the resident memory: it is never touched), 200
    /// pipes in the descriptors. (Other suites run beside this one, so the
    /// bounds leave room for their own allocations and sockets.)
    @Test func processGaugesFollowMallocAndDescriptors() throws {
        func figures() throws -> (inUse: Double, free: Double, rss: Double, fds: Double) {
            let p = try Self.parse(ProxyMetrics().render())
            return (p.value("cliproxy_malloc_in_use_bytes") ?? -1, p.value("cliproxy_malloc_free_bytes") ?? -1,
                    p.value("process_resident_memory_bytes") ?? -1, p.value("process_open_fds") ?? -1)
        }
        let before = try figures()
        #expect(before.inUse > 0 && before.free >= 0 && before.rss > 10_000_000 && before.fds >= 3, "\(before)")
        let mb = 1 << 20
        let block = malloc(256 * mb)
        var pipes: [Int32] = []
        for _ in 0..<200 {
            var fds: [Int32] = [0, 0]
            if pipe(&fds) == 0 { pipes += fds }
        }
        let during = try figures()
        free(block)
        for fd in pipes { close(fd) }
        let after = try figures()
        #expect(during.inUse - before.inUse > Double(200 * mb), "\(before) → \(during)")
        #expect(during.inUse - after.inUse > Double(200 * mb), "\(during) → \(after)")
        #expect(during.rss - before.rss < Double(100 * mb), "an untouched block is not resident: \(before) → \(during)")
        #expect(during.fds - before.fds > 300 && during.fds - after.fds > 300, "\(before.fds) → \(during.fds) → \(after.fds)")
    }

    @Test func labelValuesAreEscaped() throws {
        let m = ProxyMetrics()
        m.requestFinished(Self.report("openai", provider: "compat", model: "we\"ird\\mo\ndel", status: 200, total: 1))
        let p = try Self.parse(m.render())
        #expect(p.value("cliproxy_requests_total", ["dialect": "openai", "provider": "compat", "model": "we\"ird\\mo\ndel", "status": "200"]) == 1)
    }

    @Test func theParserRefusesWhatIsNotPrometheusText() {
        for bad in ["cliproxy_x{a=\"1\" 1", "cliproxy_x{a=1} 1", "cliproxy_x one", "9bad 1", "cliproxy_x{a=\"1\",a=\"2\"} 1", "# TYPE cliproxy_x nonsense"] {
            #expect(throws: PromText.Malformed.self, "\(bad)") { try PromText(bad) }
        }
        #expect((try? PromText("# HELP a b c\n# TYPE a counter\na 1\na{b=\"\"} 2.5e3 1700000000\n"))?.samples.count == 2)
    }

    // MARK: through the server

    static func scrape(_ server: TestServer, headers: [(String, String)] = []) async throws -> (Int, [(String, String)], String) {
        try await Client(base: server.base).call("/metrics", method: "GET", headers: headers)
    }

    @Test func metricsEndpointServesPrometheusText() async throws {
        let fake = FakeUpstream(dialectUpstream())
        try await fake.start(); defer { fake.stop() }
        let server = try await TestServer(yaml: config(fake)); defer { server.stop() }
        let (status, headers, body) = try await Self.scrape(server)
        #expect(status == 200, "\(body)")
        #expect(header(headers, "content-type")?.hasPrefix("text/plain; version=0.0.4") == true, "\(headers)")
        let p = try PromText(body)
        #expect(p.types["cliproxy_active_streams"] == "gauge")
        #expect(p.value("cliproxy_accounts", ["state": "ok"]) == 0)
    }

    /// Upstream API keys are counted too: a key that answered 429 is cooling.
    @Test func apiKeysCoolingDownShowInTheirGauge() async throws {
        let fake = FakeUpstream { r in
            r.header("authorization") == "Bearer o-key-1"
                ? .json(429, Array(#"{"error":{"message":"slow down","type":"rate_limit_error"}}"#.utf8), headers: [("retry-after", "600")])
                : .json(200, Repo.fixture("openai-openai", "text", "upstream_response.json"))
        }
        try await fake.start(); defer { fake.stop() }
        let server = try await TestServer(yaml: """
            port: 8317
            openai-compatibility:
              - name: "compat"
                base-url: "\(fake.url)/v1"
                api-keys: ["o-key-1", "o-key-2"]
                models:
                  - name: "upstream-model"
            """)
        defer { server.stop() }
        let before = try PromText(try await Self.scrape(server).2)
        #expect(before.value("cliproxy_api_keys", ["state": "ok"]) == 2 && before.value("cliproxy_api_keys", ["state": "cooling"]) == 0)
        for _ in 0..<2 {
            let (s, _, t) = try await Client(base: server.base).call("/v1/chat/completions", #"{"model":"upstream-model","messages":[{"role":"user","content":"hi"}]}"#)
            #expect(s == 200, "\(t)")
        }
        let after = try PromText(try await Self.scrape(server).2)
        #expect(after.value("cliproxy_api_keys", ["state": "cooling"]) == 1, "\(after.find("cliproxy_api_keys"))")
        #expect(after.value("cliproxy_api_keys", ["state": "ok"]) == 1)
    }

    @Test func metricsNeedAClientKeyWhenKeysAreSet() async throws {
        let fake = FakeUpstream(dialectUpstream())
        try await fake.start(); defer { fake.stop() }
        let server = try await TestServer(yaml: config(fake, extra: "api-keys: [\"client-key-1\"]\nhost: 127.0.0.1")); defer { server.stop() }
        let (s0, _, r0) = try await Self.scrape(server)
        #expect(s0 == 401 && r0.contains("missing API key"), "\(r0)")
        let (s1, _, r1) = try await Self.scrape(server, headers: [("authorization", "Bearer wrong-key")])
        #expect(s1 == 401 && r1.contains("invalid API key"), "\(r1)")
        for h in [("authorization", "Bearer client-key-1"), ("x-api-key", "client-key-1")] {
            let (s, _, r) = try await Self.scrape(server, headers: [h])
            #expect(s == 200, "\(h.0): \(r)")
            #expect(throws: Never.self) { try PromText(r) }
        }
        #expect(try await Client(base: server.base).call("/metrics?key=client-key-1", method: "GET").0 == 200)
    }

    @Test func accountsByState() async throws {
        let refreshes = Counter()
        // Account a's refresh token is revoked.
        let tokens = AccountRoutingTests.tokenEndpoint(refreshes) { r in r.body.contains("ort01-a") ? 400 : 200 }
        let up = FakeUpstream { _ in AccountRoutingTests.claudeText() }
        try await tokens.start(); try await up.start()
        defer { tokens.stop(); up.stop() }
        var disabled = Accounts.claude(token: "sk-ant-oat01-c", email: "c@example.com", refresh: "sk-ant-ort01-c")
        disabled.insert(contentsOf: #""disabled":true,"#, at: disabled.index(after: disabled.startIndex))
        let server = try await TestServer(yaml: AccountRoutingTests.config(upstream: up, tokens: tokens), authFiles: [
            "claude-a@example.com.json": Accounts.claude(token: "sk-ant-oat01-a", email: "a@example.com", expired: "2020-01-01T00:00:00Z", refresh: "sk-ant-ort01-a"),
            "claude-b@example.com.json": Accounts.claude(token: "sk-ant-oat01-b", email: "b@example.com", refresh: "sk-ant-ort01-b"),
            "claude-c@example.com.json": disabled,
            "claude-d@example.com.json": Accounts.claude(token: "sk-ant-oat01-d", email: "d@example.com", refresh: "sk-ant-ort01-d"),
        ])
        defer { server.stop() }
        let store = server.server.store
        let accounts = try #require(store.state.accounts)
        _ = try? await accounts.accessToken(for: "claude-a@example.com.json")  // refused: a needs a new login
        let d = try #require(store.state.router.credentials.first { $0.accountFile == "claude-d@example.com.json" })
        _ = store.health.cool(d, model: AccountRoutingTests.claudeModel, seconds: 120, reason: "quota", now: RuleEngine.Clock.nanoseconds())

        let (status, _, body) = try await Self.scrape(server)
        #expect(status == 200, "\(body)")
        let p = try PromText(body)
        let want = ["ok": 1.0, "cooling": 1, "needs_login": 1, "disabled": 1, "refresh_failing": 0]
        for (state, n) in want {
            #expect(p.value("cliproxy_accounts", ["state": state]) == n, "\(state): \(p.find("cliproxy_accounts"))")
        }
        // The cooldown cleared: d counts as ok again at the next scrape.
        store.health.reset(credential: d.id)
        let again = try PromText(try await Self.scrape(server).2)
        #expect(again.value("cliproxy_accounts", ["state": "ok"]) == 2)
        #expect(again.value("cliproxy_accounts", ["state": "cooling"]) == 0)
    }

    /// Needs the request path to report to the server's `ProxyMetrics`
    /// (`RequestObserver`): counters move with real requests.
    @Test func countersMoveWithRealRequests() async throws {
        let fake = FakeUpstream(dialectUpstream())
        try await fake.start(); defer { fake.stop() }
        let server = try await TestServer(yaml: config(fake)); defer { server.stop() }
        let client = Client(base: server.base)
        for stream in [false, true] {
            let (path, body) = clientRequest("openai", model: "gemini-2.5-pro", stream: stream)
            let (s, _, r) = try await client.call(path, body)
            #expect(s == 200, "\(r)")
        }
        let (s404, _, _) = try await client.call("/v1/chat/completions", #"{"model":"no-such-model","messages":[{"role":"user","content":"hi"}]}"#)
        #expect(s404 == 404)

        // A stream's report arrives after its last byte: poll briefly.
        func requests() async throws -> [PromText.Sample] {
            try PromText(try await Self.scrape(server).2).find("cliproxy_requests_total", ["dialect": "openai"])
        }
        let counted = try await eventually(3) {
            try await requests().filter { $0.labels["model"] == "gemini-2.5-pro" && $0.labels["status"] == "200" }.map(\.value).reduce(0, +) == 2
        }
        let seen = try await requests()
        #expect(counted, "requests_total for the two gemini-2.5-pro requests: \(seen)")
        #expect(seen.contains { $0.labels["status"] == "404" && $0.labels["model"] == "" && $0.value == 1 }, "\(seen)")
        #expect(seen.filter { $0.labels["model"] == "gemini-2.5-pro" }.allSatisfy { $0.labels["provider"]?.isEmpty == false }, "\(seen)")

        let p = try PromText(try await Self.scrape(server).2)
        #expect(p.value("cliproxy_active_streams") == 0)
        let latency = p.find("cliproxy_upstream_latency_seconds_count").map(\.value).reduce(0, +)
        let ttfb = p.find("cliproxy_upstream_first_byte_seconds_count").map(\.value).reduce(0, +)
        #expect(latency == 2 && ttfb == 2, "\(p.find("cliproxy_upstream_latency_seconds_count"))")
        #expect(p.value("cliproxy_proxy_overhead_seconds_count", ["phase": "parse"]) == 3)
    }
}
