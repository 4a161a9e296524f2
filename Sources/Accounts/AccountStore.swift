import Logging
import Synchronization
import UpstreamTransport

/// The subscription accounts of the auth directory and their tokens.
///
/// `reload()` reads the directory; `accessToken(for:)` hands out a token,
/// refreshing it first when it is within its provider's lead time of expiry;
/// `refreshAfterRejection(id:rejected:)` refreshes after an upstream 401;
/// `runRefreshLoop(every:)` refreshes ahead of expiry in the background.
///
/// One refresh at a time per account: concurrent callers share the refresh
/// in progress. A refreshed token is written to its file (atomically, mode
/// 0600, unknown fields kept) before anyone gets it. A failed refresh backs
/// off (1 min, doubling to 30 min); a refused refresh token marks the account
/// as needing a login until its file changes. The lock is never held across
/// a network call, so one slow token endpoint holds up only its own accounts.
public final class AccountStore: Sendable {
    let directory: AuthDirectory
    let refresher: TokenRefresher
    let options: @Sendable (CredentialFile) -> TransportOptions
    let clock: @Sendable () -> Double
    let logger: Logger
    let state: Mutex<State>

    /// - Parameters:
    ///   - specs: OAuth settings by provider id (`gemini-cli`, `codex`, `claude`, `qwen`).
    ///   - options: transport options for an account's refresh calls (its proxy);
    ///     a missing `totalTimeout` becomes 60 s.
    ///   - clock: Unix seconds now (tests inject their own).
    ///   - retryDelays: waits between the attempts of one refresh, for network
    ///     errors and 5xx answers (tests pass zeros).
    public init(directory: AuthDirectory, specs: [String: OAuthSpec], transport: UpstreamTransport,
                options: @escaping @Sendable (CredentialFile) -> TransportOptions,
                clock: @escaping @Sendable () -> Double, logger: Logger, retryDelays: [Double] = [1, 2]) {
        self.directory = directory
        self.refresher = TokenRefresher(transport: transport, retryDelays: retryDelays)
        self.options = options
        self.clock = clock
        self.logger = logger
        self.state = Mutex(State(specs: specs))
        for name in directory.removeStaleTemporaries() {
            logger.notice("removed \(name) from the auth directory: a write that never finished (the process was killed)")
        }
    }

    // MARK: state

    struct State {
        var specs: [String: OAuthSpec]
        var entries: [String: Entry] = [:]
        /// Problems already logged, by file name, so that a reload logs a broken file once.
        var reported: [String: String] = [:]
        var counter = 0

        mutating func next() -> Int { counter += 1; return counter }
    }

    struct Entry {
        var file: CredentialFile
        /// The file's bytes as this store last read or wrote them.
        var onDisk: [UInt8]
        /// Bytes of a refresh being written now (not an external change when seen on disk).
        var pending: [UInt8]? = nil
        var status: AccountStatus = .ready
        /// Failed refreshes in a row, for the back-off.
        var failures = 0
        /// Changes whenever the file is replaced from disk: a refresh of an
        /// older content is then not committed.
        var generation: Int
        var flight: Flight? = nil
    }

    /// A refresh in progress; callers await `task`.
    struct Flight {
        var id: Int
        var task: Task<FlightResult, Never>
    }

    enum FlightResult: Sendable {
        case token(String)
        case failure(AccountError)
    }

    // MARK: reading the directory

    /// Rescans the folder: adds new files, replaces changed ones (compared by
    /// content), drops removed ones. Malformed files are skipped and reported
    /// (and logged once as a warning naming the file and why); the others
    /// keep working. Unchanged accounts keep their refresh state; a changed
    /// file starts over as `.ready`. The store's own writes are not changes.
    @discardableResult
    public func reload() -> ReloadReport {
        var report = ReloadReport()
        var found: [String: ([UInt8], CredentialFile)] = [:]
        for name in directory.fileNames() {
            guard let bytes = directory.read(name) else {
                report.problems.append(CredentialFile.Problem(file: name, reason: "cannot be read (check its permissions)"))
                continue
            }
            switch CredentialFile.parse(name: name, bytes: bytes) {
            case .success(let file): found[name] = (bytes, file)
            case .failure(let problem): report.problems.append(problem)
            }
        }
        let newProblems: [CredentialFile.Problem] = state.withLock { s in
            for name in s.entries.keys.sorted() where found[name] == nil {
                s.entries[name] = nil
                report.removed.append(name)
            }
            for name in found.keys.sorted() {
                let (bytes, file) = found[name]!
                if let old = s.entries[name] {
                    if bytes == old.onDisk || bytes == old.pending { continue }
                    report.changed.append(name)
                } else {
                    report.added.append(name)
                }
                s.entries[name] = Entry(file: file, onDisk: bytes, generation: s.next())
            }
            let fresh = report.problems.filter { s.reported[$0.file] != $0.reason }
            s.reported = Dictionary(report.problems.map { ($0.file, $0.reason) }, uniquingKeysWith: { a, _ in a })
            return fresh
        }
        for p in newProblems {
            logger.warning("skipping credential file \(p.file) in \(directory.path): \(p.reason)")
        }
        if !report.isEmpty {
            logger.debug("accounts reloaded", metadata: ["added": "\(report.added)", "changed": "\(report.changed)", "removed": "\(report.removed)"])
        }
        return report
    }

    /// Every account, sorted by id: a snapshot.
    public var accounts: [Account] {
        state.withLock { s in
            s.entries.keys.sorted().map { Account(id: $0, file: s.entries[$0]!.file, status: s.entries[$0]!.status) }
        }
    }

    /// Replaces the OAuth settings (after a rules reload). Refreshes already
    /// in progress finish with the old ones.
    public func specs(_ new: [String: OAuthSpec]) {
        state.withLock { $0.specs = new }
    }
}
