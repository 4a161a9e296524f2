import UpstreamTransport

/// `cliproxy login …`: signs an account in and writes its credential file
/// into the auth directory. One entry point per provider; each takes the
/// provider's ``OAuthSpec`` (with config overrides applied), the transport
/// and its options (proxy, timeouts), and the user's console and browser.
///
/// Gemini, Codex and Claude use the browser (authorization code with PKCE,
/// a loopback callback on 127.0.0.1, or a pasted redirect address); Qwen
/// uses a device code. Every login ends with "Added <provider> account … →
/// <path>" on the console, and throws a ``LoginError`` that says what to
/// try when it fails.
public enum Login {
    /// Google sign-in for Gemini CLI (Code Assist): email from userinfo, then
    /// the Code Assist project (`--project_id`, what Code Assist reports, the
    /// account's only project, or onboarding). Writes
    /// `gemini-<email>-<project>.json`. The Cloud AI Companion API is not
    /// enabled here (`checked` stays false).
    public static func gemini(spec: OAuthSpec, directory: AuthDirectory, transport: UpstreamTransport,
                              transportOptions: TransportOptions, options: LoginOptions,
                              console: any LoginConsole, browser: any BrowserOpener) async throws(LoginError) -> LoginResult {
        try await GeminiLogin(flow: flow("gemini-cli", "Google", spec, transport, transportOptions, options, console, browser, pastesCode: false),
                              directory: directory).run()
    }

    /// ChatGPT sign-in for Codex: identity from the id token. Writes
    /// `codex-<email>-<plan>.json` (`codex-<email>.json` without a plan).
    public static func codex(spec: OAuthSpec, directory: AuthDirectory, transport: UpstreamTransport,
                             transportOptions: TransportOptions, options: LoginOptions,
                             console: any LoginConsole, browser: any BrowserOpener) async throws(LoginError) -> LoginResult {
        try await CodexLogin(flow: flow("codex", "OpenAI", spec, transport, transportOptions, options, console, browser, pastesCode: false),
                             directory: directory).run()
    }

    /// Claude sign-in (Claude Code subscription); the user may paste the
    /// `code#state` the page shows. Writes `claude-<email>.json`.
    public static func claude(spec: OAuthSpec, directory: AuthDirectory, transport: UpstreamTransport,
                              transportOptions: TransportOptions, options: LoginOptions,
                              console: any LoginConsole, browser: any BrowserOpener) async throws(LoginError) -> LoginResult {
        try await ClaudeLogin(flow: flow("claude", "Claude", spec, transport, transportOptions, options, console, browser, pastesCode: true),
                              directory: directory).run()
    }

    /// Qwen device-code sign-in: shows a code and a URL, then polls until
    /// the user approves. Writes `qwen-<unix-ms>.json`.
    public static func qwen(spec: OAuthSpec, directory: AuthDirectory, transport: UpstreamTransport,
                            transportOptions: TransportOptions, options: LoginOptions,
                            console: any LoginConsole, browser: any BrowserOpener) async throws(LoginError) -> LoginResult {
        try await QwenLogin(spec: spec, http: LoginHTTP(transport: transport, options: transportOptions, provider: "qwen"),
                            options: options, console: console, browser: browser, directory: directory).run()
    }

    /// The login of `kind` — what `cliproxy login <kind>` and the
    /// management API's sign-in starters both run.
    public static func run(_ kind: AccountKind, spec: OAuthSpec, directory: AuthDirectory, transport: UpstreamTransport,
                           transportOptions: TransportOptions, options: LoginOptions,
                           console: any LoginConsole, browser: any BrowserOpener) async throws(LoginError) -> LoginResult {
        switch kind {
        case .gemini: try await gemini(spec: spec, directory: directory, transport: transport, transportOptions: transportOptions,
                                       options: options, console: console, browser: browser)
        case .codex: try await codex(spec: spec, directory: directory, transport: transport, transportOptions: transportOptions,
                                     options: options, console: console, browser: browser)
        case .claude: try await claude(spec: spec, directory: directory, transport: transport, transportOptions: transportOptions,
                                       options: options, console: console, browser: browser)
        case .qwen: try await qwen(spec: spec, directory: directory, transport: transport, transportOptions: transportOptions,
                                   options: options, console: console, browser: browser)
        }
    }

    /// Transport settings for sign-in calls: the config's `proxy-url` (empty:
    /// none) and timeouts that suit a handful of small exchanges.
    public static func transportOptions(proxyURL: String) -> TransportOptions {
        TransportOptions(proxyURL: proxyURL.isEmpty ? nil : proxyURL, connectTimeout: 15, idleReadTimeout: 60, totalTimeout: 120)
    }

    private static func flow(_ id: String, _ name: String, _ spec: OAuthSpec, _ transport: UpstreamTransport,
                             _ transportOptions: TransportOptions, _ options: LoginOptions,
                             _ console: any LoginConsole, _ browser: any BrowserOpener, pastesCode: Bool) -> AuthorizationCodeFlow {
        AuthorizationCodeFlow(providerID: id, displayName: name, spec: spec,
                              http: LoginHTTP(transport: transport, options: transportOptions, provider: id),
                              options: options, console: console, browser: browser, acceptsCodeHashState: pastesCode)
    }
}
