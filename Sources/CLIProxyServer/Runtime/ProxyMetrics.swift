import Accounts
import CMalloc
import Prometheus
import RuleEngine
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The server's Prometheus metrics, served by `GET /metrics`.
///
/// A `RequestObserver`: every finished request counts once in
/// `cliproxy_requests_total` and adds to the latency histograms; streams move
/// `cliproxy_active_streams`. The account gauges are computed at scrape time
/// from the server state (`render`).
///
/// Each instance owns its registry: there is no global
/// `MetricsSystem.bootstrap`, so several servers in one process (the tests)
/// keep their numbers apart.
///
/// The collectors are made through the registry's own `make*` API rather than
/// swift-metrics' `Counter`/`Timer` over `PrometheusMetricsFactory`: the
/// factory registers every family with an empty help text (no `# HELP`
/// lines) and one set of timer buckets, while these families want their own
/// help and buckets (upstream calls take seconds to minutes, the proxy's own
/// work well under a millisecond). `factory` is there for code that speaks
/// swift-metrics (pass it as `factory:`), recording into the same registry.
///
/// Label values are bounded: dialects and providers come from the route table
/// and the rules, statuses are HTTP codes, and a model is labelled only once
/// the router matched it to a provider (a client's made-up model names would
/// otherwise grow the registry without limit).
public final class ProxyMetrics: RequestObserver {
    /// The registry this instance renders.
    public let registry: PrometheusCollectorRegistry
    /// A swift-metrics factory over `registry`.
    public let factory: PrometheusMetricsFactory
    /// The state the account gauges are computed from when `render` is not
    /// given one.
    let store: ServerStateStore?
    private let activeStreams: Prometheus.Gauge
    /// Renders are serialized so that the account gauges written by one are
    /// the ones it emits.
    private let rendering = Mutex<Void>(())

    /// Metric names and help texts (the registry insists that a family's help
    /// never changes, so they live here once).
    enum Name {
        static let requests = "cliproxy_requests_total"
        static let requestsHelp = "Client requests by client dialect, upstream provider, model and the status the client got."
        static let upstreamLatency = "cliproxy_upstream_latency_seconds"
        static let upstreamLatencyHelp = "Time spent waiting for the upstream, from the first attempt's request to its response's end, by provider."
        static let firstByte = "cliproxy_upstream_first_byte_seconds"
        static let firstByteHelp = "Time until the upstream's response head, by provider."
        static let overhead = "cliproxy_proxy_overhead_seconds"
        static let overheadHelp = "The proxy's own time per request: parse (reading and decoding the client's body), translate (rules on request and answer), relay (routing, copying, writing to the client)."
        static let activeStreams = "cliproxy_active_streams"
        static let activeStreamsHelp = "Streamed responses being written now."
        static let accounts = "cliproxy_accounts"
        static let accountsHelp = "Signed-in accounts by state: ok, cooling (a cooldown on at least one model), refresh_failing, needs_login, disabled; each account counts once."
        static let apiKeys = "cliproxy_api_keys"
        static let apiKeysHelp = "Upstream API keys from config.yaml by state: ok, cooling (a cooldown on at least one model)."
        static let mallocInUse = "cliproxy_malloc_in_use_bytes"
        static let mallocInUseHelp = "Bytes the process has allocated through malloc and not freed (glibc mallinfo2: in-use chunks of every arena plus mmapped blocks). Growth here after a settle is a leak; RSS above it is malloc holding freed memory."
        static let mallocFree = "cliproxy_malloc_free_bytes"
        static let mallocFreeHelp = "Freed bytes glibc malloc keeps in its arenas for reuse (mallinfo2 fordblks): resident or not, not returned to the system."
        static let residentMemory = "process_resident_memory_bytes"
        static let residentMemoryHelp = "Resident memory size in bytes (/proc/self/statm)."
        static let openFds = "process_open_fds"
        static let openFdsHelp = "Open file descriptors (/proc/self/fd)."
    }

    /// The account states, in the order a state wins when several hold.
    public static let accountStates = ["disabled", "needs_login", "refresh_failing", "cooling", "ok"]

    static let upstreamBuckets: [Duration] = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300].map(ProxyMetrics.seconds)
    static let firstByteBuckets: [Duration] = [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60].map(ProxyMetrics.seconds)
    static let overheadBuckets: [Duration] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1].map(ProxyMetrics.seconds)

    static func seconds(_ s: Double) -> Duration { .nanoseconds(Int64((s * 1e9).rounded())) }
    static func duration(_ ns: UInt64) -> Duration { .nanoseconds(Int64(clamping: ns)) }

    /// - Parameter store: where the account gauges come from (a `render(store:)`
    ///   argument wins); without either they stay at zero.
    public init(store: ServerStateStore? = nil) {
        let registry = PrometheusCollectorRegistry()
        self.registry = registry
        self.factory = PrometheusMetricsFactory(registry: registry)
        self.store = store
        activeStreams = registry.makeGauge(name: Name.activeStreams, help: Name.activeStreamsHelp)
        // Every state from the first scrape on, so that dashboards see zeros rather than gaps.
        for state in Self.accountStates { accountGauge(state).set(to: 0) }
        for state in Self.keyStates { keyGauge(state).set(to: 0) }
    }

    /// The API key states.
    public static let keyStates = ["cooling", "ok"]

    private func keyGauge(_ state: String) -> Prometheus.Gauge {
        registry.makeGauge(name: Name.apiKeys, labels: [("state", state)], help: Name.apiKeysHelp)
    }

    private func accountGauge(_ state: String) -> Prometheus.Gauge {
        registry.makeGauge(name: Name.accounts, labels: [("state", state)], help: Name.accountsHelp)
    }

    // MARK: RequestObserver

    public func requestFinished(_ report: RequestReport) {
        // The registry returns the existing collector for a name and label set
        // (one lock and a dictionary look-up).
        let model = report.provider.isEmpty ? "" : report.model
        registry.makeCounter(name: Name.requests,
                             labels: [("dialect", report.dialect), ("provider", report.provider), ("model", model),
                                      ("status", String(report.status))],
                             help: Name.requestsHelp).increment()
        if !report.provider.isEmpty, let firstByte = report.upstreamFirstByte {
            registry.makeDurationHistogram(name: Name.firstByte, labels: [("provider", report.provider)],
                                           buckets: Self.firstByteBuckets, help: Name.firstByteHelp)
                .record(Self.duration(firstByte))
            registry.makeDurationHistogram(name: Name.upstreamLatency, labels: [("provider", report.provider)],
                                           buckets: Self.upstreamBuckets, help: Name.upstreamLatencyHelp)
                .record(Self.duration(max(report.upstreamTotal, firstByte)))
        }
        for (phase, ns) in [("parse", report.parse), ("translate", report.translate), ("relay", report.relay)] {
            registry.makeDurationHistogram(name: Name.overhead, labels: [("phase", phase)],
                                           buckets: Self.overheadBuckets, help: Name.overheadHelp)
                .record(Self.duration(ns))
        }
    }

    public func streamOpened() { activeStreams.increment() }
    public func streamClosed() { activeStreams.decrement() }

    // MARK: scraping

    /// The Prometheus text format (0.0.4) of everything, the account gauges
    /// computed first from `store` (else the one given at init).
    public func render(store: ServerStateStore? = nil) -> [UInt8] {
        let source = store ?? self.store
        return rendering.withLock { _ in
            if let source {
                let counts = Self.accountCounts(source.state, health: source.health)
                for state in Self.accountStates { accountGauge(state).set(to: Double(counts[state] ?? 0)) }
                let keys = Self.keyCounts(source.state, health: source.health)
                for state in Self.keyStates { keyGauge(state).set(to: Double(keys[state] ?? 0)) }
            }
            let process = ProcessFigures.now()
            registry.makeGauge(name: Name.mallocInUse, help: Name.mallocInUseHelp).set(to: Double(process.mallocInUse))
            registry.makeGauge(name: Name.mallocFree, help: Name.mallocFreeHelp).set(to: Double(process.mallocFree))
            registry.makeGauge(name: Name.residentMemory, help: Name.residentMemoryHelp).set(to: Double(process.resident))
            registry.makeGauge(name: Name.openFds, help: Name.openFdsHelp).set(to: Double(process.openFds))
            return registry.emitToBuffer()
        }
    }

    /// Credentials from config.yaml keys (not account files) by state:
    /// `cooling` when any model of the key is cooling down, else `ok`.
    static func keyCounts(_ state: ServerState, health: CredentialHealth) -> [String: Int] {
        let cooling = Set(health.snapshot(now: Clock.nanoseconds()).map(\.credential))
        var counts: [String: Int] = [:]
        for c in state.router.credentials where c.accountFile == nil {
            counts[cooling.contains(c.id) ? "cooling" : "ok", default: 0] += 1
        }
        return counts
    }

    /// Accounts of the auth directory by state. An account is in the first of
    /// these that holds: `disabled` (switched off in its file),
    /// `needs_login` (its refresh token was refused), `refresh_failing` (its
    /// last refresh failed; retried later), `cooling` (a cooldown on at least
    /// one model, for any of its credentials), `ok`.
    static func accountCounts(_ state: ServerState, health: CredentialHealth) -> [String: Int] {
        guard let accounts = state.accounts?.accounts, !accounts.isEmpty else { return [:] }
        let coolingCredentials = Set(health.snapshot(now: Clock.nanoseconds()).map(\.credential))
        var coolingAccounts = Set<String>()
        for c in state.router.credentials where coolingCredentials.contains(c.id) {
            if let file = c.accountFile { coolingAccounts.insert(file) }
        }
        var counts: [String: Int] = [:]
        for a in accounts {
            let s: String
            switch a.status {
            case _ where a.file.disabled: s = "disabled"
            case .needsLogin: s = "needs_login"
            case .failed: s = "refresh_failing"
            case .ready: s = coolingAccounts.contains(a.id) ? "cooling" : "ok"
            }
            counts[s, default: 0] += 1
        }
        return counts
    }
}

/// The process's memory and descriptors, read at scrape time (mallinfo2 walks
/// every malloc arena under its lock: a few microseconds, scrapes only).
struct ProcessFigures {
    var mallocInUse = 0
    var mallocFree = 0
    var resident = 0
    var openFds = 0

    static func now() -> ProcessFigures {
        var f = ProcessFigures()
        let m = mallinfo2()
        f.mallocInUse = Int(m.uordblks) + Int(m.hblkhd)
        f.mallocFree = Int(m.fordblks)
        f.resident = residentBytes()
        if let dir = opendir("/proc/self/fd") {
            while let entry = readdir(dir) {
                if entry.pointee.d_name.0 != CChar(UInt8(ascii: ".")) { f.openFds += 1 }
            }
            closedir(dir)
            f.openFds -= 1  // the descriptor opendir itself holds
        }
        return f
    }

    /// Resident memory from /proc/self/statm (size resident shared text lib data dt, in pages); 0 if unreadable.
    static func residentBytes() -> Int {
        guard let statm = FileSystem.readText("/proc/self/statm"),
              let pages = statm.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
