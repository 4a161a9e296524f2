import Logging
import UpstreamTransport

// Handing out tokens, and the single-flight refresh behind it.
extension AccountStore {
    /// Back-off after failed refreshes: 1 min, doubling, at most 30 min.
    static func backoff(failures: Int) -> Double {
        min(60 * Double(1 << min(max(failures - 1, 0), 10)), 1800)
    }

    /// Refreshes at most this many accounts at once in the background.
    static let loopConcurrency = 4

    /// What a caller does after looking at an account under the lock.
    enum Plan {
        case token(String)
        case fail(AccountError)
        /// Await a refresh; on failure fall back to `token` while it has not expired at `until`.
        case wait(Task<FlightResult, Never>, fallback: (token: String, until: Double?)?)
    }

    /// The access token to use now. Refreshes first (single-flight) when the
    /// token is missing or within the provider's lead time of expiry. If that
    /// refresh fails but the old token has not expired yet, returns the old
    /// token (the failure is recorded in the account's status and logged).
    /// While a failed account backs off, or one needing a login waits for a
    /// new file, no refresh is tried: the old token is returned while it is
    /// valid, an ``AccountError`` saying what to do otherwise.
    public func accessToken(for id: String) async throws(AccountError) -> String {
        let now = clock()
        let plan: Plan = state.withLock { s in
            guard let e = s.entries[id] else { return .fail(AccountError(account: id, reason: "no such account in \(directory.path)")) }
            let token = e.file.accessToken ?? ""
            let spec = s.specs[e.file.kind.provider]
            let fallback = Account.tokenExpired(e.file, now: now) ? nil : (token: token, until: e.file.expiry)
            let lead = spec?.refreshLeadSeconds ?? 0
            let due = token.isEmpty || e.file.expiry.map { now >= $0 - lead } ?? false
            if !due { return .token(token) }
            if let f = e.flight { return .wait(f.task, fallback: fallback) }
            if let blocked = blocked(e, id: id, spec: spec, now: now) {
                return fallback.map { .token($0.token) } ?? .fail(blocked)
            }
            return .wait(startFlight(&s, id: id, spec: spec!), fallback: fallback)
        }
        return try await settle(plan)
    }

    /// After the upstream answered 401 to `rejected`: refreshes once
    /// (single-flight) and returns the new token — unless another caller has
    /// already replaced that token, in which case the current one is
    /// returned without a call. Respects the back-off and needs-login states
    /// (the rejected token is not handed out again).
    public func refreshAfterRejection(id: String, rejected: String) async throws(AccountError) -> String {
        let now = clock()
        let plan: Plan = state.withLock { s in
            guard let e = s.entries[id] else { return .fail(AccountError(account: id, reason: "no such account in \(directory.path)")) }
            let token = e.file.accessToken ?? ""
            if !token.isEmpty && token != rejected { return .token(token) }
            if let f = e.flight { return .wait(f.task, fallback: nil) }
            let spec = s.specs[e.file.kind.provider]
            if let blocked = blocked(e, id: id, spec: spec, now: now) { return .fail(blocked) }
            return .wait(startFlight(&s, id: id, spec: spec!), fallback: nil)
        }
        return try await settle(plan)
    }

    /// Background refresh ahead of expiry: every `every` seconds, refreshes
    /// the accounts within their provider's lead time (at most 4 at once),
    /// skipping disabled ones, those backing off and those needing a login.
    /// The first pass runs at once. Runs until the task is cancelled (a
    /// refresh already under way finishes first: it is shared with callers).
    public func runRefreshLoop(every: Double) async {
        while !Task.isCancelled {
            await refreshDue()
            do { try await Task.sleep(for: .milliseconds(Int64(max(every, 0.001) * 1000))) } catch { return }
        }
    }

    /// One pass of the refresh loop; returns the accounts it refreshed or tried.
    @discardableResult
    func refreshDue() async -> [String] {
        let now = clock()
        let due: [String] = state.withLock { s in
            s.entries.keys.sorted().filter { id in
                let e = s.entries[id]!
                guard !e.file.disabled, let spec = s.specs[e.file.kind.provider],
                      !(e.file.refreshToken ?? "").isEmpty, blocked(e, id: id, spec: spec, now: now) == nil else { return false }
                let token = e.file.accessToken ?? ""
                return token.isEmpty || e.file.expiry.map { now >= $0 - spec.refreshLeadSeconds } ?? false
            }
        }
        await withTaskGroup(of: Void.self) { group in
            var running = 0
            for id in due {
                if running == Self.loopConcurrency { await group.next(); running -= 1 }
                group.addTask { _ = try? await self.accessToken(for: id) }
                running += 1
            }
        }
        return due
    }

    // MARK: internals

    /// Why no refresh may start now, or nil when one may.
    func blocked(_ e: Entry, id: String, spec: OAuthSpec?, now: Double) -> AccountError? {
        let provider = e.file.kind.provider
        switch e.status {
        case .needsLogin(let reason):
            return AccountError(account: id, reason: reason, needsLogin: true)
        case .failed(let reason, let retryAt) where now < retryAt:
            return AccountError(account: id, reason: "token refresh failed (\(reason)); next try after \(RFC3339.format(retryAt))",
                                retryAt: retryAt)
        default:
            break
        }
        if spec == nil {
            return AccountError(account: id, reason: "no OAuth settings for provider \(provider) (the `oauth` section of Rules/providers/\(provider).json)")
        }
        return nil
    }

    /// Starts the refresh of `id` and records it as the account's flight. Called under the lock.
    func startFlight(_ s: inout State, id: String, spec: OAuthSpec) -> Task<FlightResult, Never> {
        let flightID = s.next()
        let e = s.entries[id]!
        let file = e.file, generation = e.generation
        let task = Task { await self.fly(id: id, flightID: flightID, generation: generation, file: file, spec: spec) }
        s.entries[id]!.flight = Flight(id: flightID, task: task)
        return task
    }

    func settle(_ plan: Plan) async throws(AccountError) -> String {
        switch plan {
        case .token(let t): return t
        case .fail(let e): throw e
        case .wait(let task, let fallback):
            switch await task.value {
            case .token(let t): return t
            case .failure(let error):
                if let fallback, fallback.until.map({ clock() < $0 }) ?? true { return fallback.token }
                throw error
            }
        }
    }

    /// One refresh: the exchange, the write-back, then the new state.
    func fly(id: String, flightID: Int, generation: Int, file: CredentialFile, spec: OAuthSpec) async -> FlightResult {
        var opts = options(file)
        if opts.totalTimeout == nil { opts.totalTimeout = 60 }
        let answer = await refresher.refresh(file, spec: spec, options: opts)
        let now = clock()
        let provider = file.kind.provider
        switch answer {
        case .tokens(let tokens):
            let updated = RefreshCall.apply(tokens, to: file, now: now)
            let bytes = updated.serialized()
            let current = state.withLock { s -> Bool in
                guard s.entries[id]?.generation == generation else { return false }
                s.entries[id]!.pending = bytes
                return true
            }
            guard current else {
                // The file changed on disk meanwhile: its new content wins; this token is still good for the waiters.
                logger.info("credential file \(id) changed during its token refresh; keeping the file's new content")
                return .token(tokens.accessToken)
            }
            var written = true
            do { try directory.write(name: id, bytes: bytes) } catch {
                written = false
                logger.error("cannot save the refreshed token of \(id): \(error); it is kept in memory until the next refresh")
            }
            state.withLock { s in
                guard var e = s.entries[id], e.generation == generation else { return }
                e.file = updated
                if written { e.onDisk = bytes }
                e.pending = nil
                e.status = .ready
                e.failures = 0
                if e.flight?.id == flightID { e.flight = nil }
                s.entries[id] = e
            }
            logger.debug("refreshed the token of \(id)")
            return .token(tokens.accessToken)

        case .needsLogin(let why):
            let reason = "the refresh token was refused (\(why)); run `cliproxy login \(AccountKind(provider: provider)?.rawValue ?? provider)`"
            commitFailure(id: id, flightID: flightID, generation: generation, status: .needsLogin(reason: reason))
            logger.warning("account \(id) needs a new login: \(reason)")
            return .failure(AccountError(account: id, reason: reason, needsLogin: true))

        case .failed(let why, _):
            let retryAt: Double = state.withLock { s in
                guard var e = s.entries[id], e.generation == generation else { return now + Self.backoff(failures: 1) }
                e.failures += 1
                let at = now + Self.backoff(failures: e.failures)
                e.status = .failed(reason: why, retryAt: at)
                if e.flight?.id == flightID { e.flight = nil }
                s.entries[id] = e
                return at
            }
            let reason = "token refresh failed (\(why)); next try after \(RFC3339.format(retryAt))"
            logger.warning("account \(id): \(reason)")
            return .failure(AccountError(account: id, reason: reason, retryAt: retryAt))
        }
    }

    private func commitFailure(id: String, flightID: Int, generation: Int, status: AccountStatus) {
        state.withLock { s in
            guard var e = s.entries[id], e.generation == generation else { return }
            e.status = status
            if e.flight?.id == flightID { e.flight = nil }
            s.entries[id] = e
        }
    }
}
