import UpstreamTransport

/// How a `cliproxy login …` run behaves: the command's flags, plus knobs the
/// tests turn.
public struct LoginOptions: Sendable, Equatable {
    /// Print the sign-in URL without opening a browser (`--no-browser`); the
    /// user opens it anywhere and, when the browser cannot reach this
    /// machine's loopback callback, pastes the address it was sent to.
    public var noBrowser: Bool
    /// Loopback port of the sign-in callback (`--callback-port`); nil: the
    /// provider's default (`OAuthSpec.callbackPort`).
    public var callbackPort: Int?
    /// The address the callback server listens on (`--callback-host`).
    /// 127.0.0.1 by default: only this machine's browser may deliver a code.
    /// In a container, 0.0.0.0 lets the published port reach it (the
    /// redirect address the provider sees stays `localhost`).
    public var callbackHost: String
    /// Gemini: the Google Cloud project to use (`--project_id`); nil: found
    /// from Code Assist or the account's project list.
    public var projectID: String?
    /// Seconds to wait for the browser callback, a pasted address, or the
    /// approval of a device code.
    public var timeout: Double
    /// Every poll interval and wait is multiplied by this (tests shrink it).
    public var pollScale: Double

    public init(noBrowser: Bool = false, callbackPort: Int? = nil, callbackHost: String = "127.0.0.1", projectID: String? = nil,
                timeout: Double = 300, pollScale: Double = 1) {
        self.noBrowser = noBrowser
        self.callbackPort = callbackPort
        self.callbackHost = callbackHost
        self.projectID = projectID
        self.timeout = timeout
        self.pollScale = pollScale
    }
}

/// Where a login talks to the user: lines it shows, and lines the user
/// types (a pasted redirect address, or Claude's `code#state`).
public protocol LoginConsole: Sendable {
    /// Shows one line (it may hold a URL to open; never a secret).
    func say(_ line: String)
    /// Lines the user enters, without their line ends. Read only while a
    /// login waits for its callback; the login stops iterating when done.
    func lines() -> AsyncStream<String>
}

/// Opens a URL in the user's browser.
public protocol BrowserOpener: Sendable {
    /// Starts opening `url`; false when no browser could be started (the
    /// login has printed the URL anyway).
    func open(_ url: String) -> Bool
}

/// What a successful login wrote.
public struct LoginResult: Sendable {
    /// The credential file as written.
    public var file: CredentialFile
    /// Its path: `<auth-dir>/<file.name>`.
    public var path: String

    public init(file: CredentialFile, path: String) {
        self.file = file
        self.path = path
    }
}

/// Why a login failed: what went wrong and what to try. Never holds a token,
/// a code, a verifier or a client secret.
public struct LoginError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kind of failure, for callers that react differently (exit codes).
    public enum Reason: Sendable, Equatable {
        /// The loopback callback port could not be opened.
        case portBusy
        /// No callback, pasted address or device approval arrived in time.
        case timedOut
        /// The provider (or the user) refused the sign-in.
        case denied
        /// A provider endpoint could not be reached.
        case network
        /// A provider endpoint answered with an HTTP error.
        case rejected
        /// A provider answered something the login cannot use.
        case badResponse
        /// Gemini: the project must be chosen with `--project_id`.
        case projectChoice
        /// The provider's `oauth` data lacks something the flow needs.
        case misconfigured
        /// The credential file could not be written.
        case cannotWrite
        /// The login was cancelled.
        case cancelled
    }

    public var reason: Reason
    /// What went wrong, one clause without a final period.
    public var problem: String
    /// What to try next, as a sentence; nil when there is nothing useful.
    public var suggestion: String?

    public init(_ reason: Reason, _ problem: String, suggestion: String? = nil) {
        self.reason = reason
        self.problem = problem
        self.suggestion = suggestion
    }

    public var description: String {
        guard let suggestion else { return problem }
        return problem + ". " + suggestion
    }

    static let cancelled = LoginError(.cancelled, "the login was cancelled")
}
