import Accounts
import Hummingbird
import Logging
import NIOCore
import ProxyConfig
import RuleEngine
import ServiceLifecycle
import Synchronization
import UpstreamTransport

/// The cliproxy HTTP server: the route table of `Endpoints` over one
/// `RequestPath`, with the state snapshot kept current by `Reloader`.
public final class CLIProxyServer: Sendable {
    public let store: ServerStateStore
    public let transport: UpstreamTransport
    /// Usage statistics kept in SQLite (`usage-statistics-enabled`).
    public let usage: UsageRecorder
    /// Prometheus metrics (`GET /metrics`), shared by the route and the request path.
    public let metrics: ProxyMetrics
    let logger: Logger
    let rulesOverride: String?

    public init(state: ServerState, health: CredentialHealth, logger: Logger, rulesOverride: String? = nil,
                transport: UpstreamTransport = UpstreamTransport()) {
        self.store = ServerStateStore(state, health: health)
        self.transport = transport
        self.logger = logger
        self.rulesOverride = rulesOverride
        self.usage = UsageRecorder(store: store, logger: logger)
        self.metrics = ProxyMetrics(store: store)
    }

    /// Everyone told about finished requests: statistics, metrics, and the debug log line.
    var observers: [any RequestObserver] { [usage, metrics, RequestDebugLog(logger: logger)] }

    /// Where the server listens: `host` when set; else 127.0.0.1 when no
    /// client API keys are configured (anyone who can reach the port could
    /// use every credential), else all interfaces.
    public static func bindHost(_ config: ProxyConfig, logger: Logger) -> String {
        let host = config.effectiveHost
        if config.apiKeys.isEmpty {
            if config.host == nil {
                logger.notice("no api-keys configured: listening on 127.0.0.1 only (add api-keys, or set host, to listen beyond this machine)")
            } else if !["127.0.0.1", "localhost", "::1"].contains(host) {
                logger.warning("host is \(host) but no api-keys are configured: anyone who can reach this port can use every credential")
            }
        }
        return host
    }

    /// The application: routes, error rendering for unknown paths, and the
    /// reloader, the account refresher and the memory trimmer as services
    /// beside the HTTP server.
    public func application(port: Int? = nil, reload: Bool = true, connections: ClientConnections = ClientConnections(),
                            onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        let state = store.state
        let logDir = ServerState.directory(of: FileSystem.absolute(state.configPath)) + "/logs"
        let path = RequestPath(store: store, transport: transport, logger: logger, requestLog: RequestLog(directory: logDir, store: store),
                               observers: observers)
        let router = Router(context: ProxyContext.self)
        router.middlewares.add(RequestInChildTask())  // first: see there why
        router.middlewares.add(DialectErrors(store: store))
        ManagementRoutes.secureKeyAtStart(store: store, logger: logger)  // before the watcher starts
        let reloader = Reloader(store: store, rulesOverride: rulesOverride, logger: logger)
        if !reload { reloader.watcher.stop() }  // no watching; the management API still applies its edits through it
        let management = ManagementRoutes(store: store, reloader: reloader, usage: usage,
                                          logins: LoginSessions(store: store, transport: transport, logger: logger),
                                          logDirectory: logDir, logger: logger)
        Endpoints(path: path, models: ModelLists(store: store), relay: CodeAssistRelay(store: store, transport: transport, logger: logger),
                  management: management, metrics: metrics).register(on: router)
        let host = Self.bindHost(state.config, logger: logger)
        let configuredPort = port ?? state.config.port
        var services: [any Service] = [MemoryTrimmer(logger: logger)]
        if reload {
            services.append(reloader)
        }
        if let accounts = state.accounts {
            services.append(AccountRefresher(accounts: accounts))
        }
        return Application(router: router, server: connections.http1,
                           configuration: .init(address: .hostname(host, port: configuredPort), serverName: "\(CLIProxyInfo.name)/\(CLIProxyInfo.version)"),
                           services: services,
                           onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? configuredPort) },
                           logger: logger)
    }
}

extension CLIProxyServer {
    /// Runs the application until SIGTERM or SIGINT. Then the listener closes
    /// at once, requests in flight (streams included) may finish for up to
    /// `shutdown-grace-period`, and whatever still runs after that is
    /// cancelled; either way this returns normally (exit status 0). A failure
    /// before any signal (the port taken) is thrown.
    public func serve(_ app: some ApplicationProtocol & Service) async throws {
        let signalled = SignalSeen()
        var configuration = ServiceGroupConfiguration(
            services: [.init(service: app),
                       // Its end must not end the group: it only takes notes.
                       .init(service: signalled, successTerminationBehavior: .ignore)],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        configuration.maximumGracefulShutdownDuration = store.state.config.shutdownGracePeriod
        // Past the grace period, what is still running is cancelled; a request
        // that does not notice (one still waiting for an upstream's first
        // byte) must not hold the exit up for long.
        configuration.maximumCancellationDuration = .seconds(1)
        do {
            try await ServiceGroup(configuration: configuration).run()
        } catch {
            // Past the grace period the group cancels what is left and reports
            // it as an error: still the end the operator asked for.
            guard signalled.seen.load(ordering: .acquiring) else { throw error }
            logger.notice("requests still running after shutdown-grace-period were cancelled")
        }
        usage.close()
        logger.info("cliproxy stopped")
    }
}

/// Notes that a graceful shutdown began (the group's signal arrived).
final class SignalSeen: Service, Sendable {
    let seen = Atomic<Bool>(false)
    func run() async throws {
        do {
            try await gracefulShutdown()
            seen.store(true, ordering: .releasing)
        } catch {}  // cancelled: the group ended without a signal
    }
}

/// Refreshes account tokens ahead of expiry in the background, so requests
/// rarely wait for a refresh.
struct AccountRefresher: Service {
    let accounts: AccountStore
    func run() async throws {
        await cancelWhenGracefulShutdown { await accounts.runRefreshLoop(every: 30) }
    }
}

/// Errors the router raises itself (no such path, wrong method) rendered in
/// the dialect the path suggests.
struct DialectErrors: RouterMiddleware {
    typealias Context = ProxyContext
    let store: ServerStateStore

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError {
            let p = request.uri.path
            let dialect = p.hasPrefix("/v1beta") ? "gemini" : p.hasPrefix("/v1/messages") ? "claude" : p.hasPrefix("/v1/responses") ? "responses" : "openai"
            let status = Int(error.status.code)
            let message = status == 404 ? "no such endpoint: \(request.method) \(p); GET / lists the endpoints" : (error.body ?? "\(error.status)")
            return await Replies(rules: store.state.rules, dialect: dialect)
                .error(status, status == 404 ? "not_found" : "invalid_request", message)
        }
    }
}
