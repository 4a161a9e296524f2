/// One subscription account as the store holds it: the credential file as
/// last read or refreshed, and how its token refresh is doing. A snapshot —
/// later refreshes and reloads do not change a value already handed out.
public struct Account: Sendable {
    /// The credential file's name in the auth directory (`codex-a@b.c.json`).
    public var id: String
    public var file: CredentialFile
    public var status: AccountStatus

    public init(id: String, file: CredentialFile, status: AccountStatus) {
        self.id = id
        self.file = file
        self.status = status
    }

    /// Whether the account can serve a request now: it is not disabled, and
    /// it is not both failing to refresh (or needing a login) and holding an
    /// expired token. A ready account with an expired token is usable: asking
    /// for its token refreshes it.
    public func isUsable(now: Double) -> Bool {
        if file.disabled { return false }
        if status == .ready { return true }
        return !Self.tokenExpired(file, now: now)
    }

    /// True when the file has no access token or its expiry has passed. A
    /// file that does not say when its token expires counts as unexpired.
    static func tokenExpired(_ file: CredentialFile, now: Double) -> Bool {
        guard let token = file.accessToken, !token.isEmpty else { return true }
        guard let expiry = file.expiry else { return false }
        return now >= expiry
    }
}

/// How an account's token refresh is doing.
public enum AccountStatus: Sendable, Equatable {
    /// No refresh problem (the token may still be due for a refresh).
    case ready
    /// The last refresh failed (network or HTTP error); no new attempt is
    /// made before `retryAt` (Unix seconds). `reason` holds no secrets.
    case failed(reason: String, retryAt: Double)
    /// The provider refused the refresh token (`invalid_grant`,
    /// `refresh_token_reused`): only a new login helps. Not retried until the
    /// credential file changes on disk.
    case needsLogin(reason: String)
}

/// Why the store cannot give out a token for an account. The reason says
/// what happened and what to try; it never holds a token or a secret.
public struct AccountError: Error, Sendable, CustomStringConvertible {
    /// The account (credential file name).
    public var account: String
    public var reason: String
    /// True when only a new login helps (the refresh token was refused).
    public var needsLogin: Bool
    /// When the store will try to refresh again (Unix seconds), when known.
    public var retryAt: Double?

    public init(account: String, reason: String, needsLogin: Bool = false, retryAt: Double? = nil) {
        self.account = account
        self.reason = reason
        self.needsLogin = needsLogin
        self.retryAt = retryAt
    }

    public var description: String { "account \(account): \(reason)" }
}

/// What a ``AccountStore/reload()`` found, by file name.
public struct ReloadReport: Sendable, Equatable {
    /// Files that were not accounts before.
    public var added: [String] = []
    /// Accounts whose file content changed on disk (their refresh state starts over).
    public var changed: [String] = []
    /// Accounts that are gone: the file was deleted, or it can no longer be
    /// read as a credential file (then it is in `problems` too).
    public var removed: [String] = []
    /// Files skipped, each with the reason.
    public var problems: [CredentialFile.Problem] = []

    public init(added: [String] = [], changed: [String] = [], removed: [String] = [], problems: [CredentialFile.Problem] = []) {
        self.added = added
        self.changed = changed
        self.removed = removed
        self.problems = problems
    }

    /// True when no account was added, changed or removed.
    public var isEmpty: Bool { added.isEmpty && changed.isEmpty && removed.isEmpty }
}
