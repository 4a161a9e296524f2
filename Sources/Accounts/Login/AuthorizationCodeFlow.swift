import UpstreamTransport

/// The browser sign-in shared by Gemini, Codex and Claude (OAuth 2.0
/// authorization code, with S256 PKCE when the spec asks): the loopback
/// callback server is started first, then the authorize URL is printed (and
/// opened unless `noBrowser`); the first of the callback, a pasted redirect
/// address, or the timeout decides; the code is then exchanged for tokens.
struct AuthorizationCodeFlow: Sendable {
    let providerID: String
    /// The provider's name in messages (`Google`, `OpenAI`, `Claude`).
    let displayName: String
    let spec: OAuthSpec
    let http: LoginHTTP
    let options: LoginOptions
    let console: any LoginConsole
    let browser: any BrowserOpener
    /// Claude: a pasted `code#state` completes the flow.
    let acceptsCodeHashState: Bool

    /// What the sign-in produced, ready for the token exchange. `verifier` is a secret.
    struct Grant: Sendable {
        var code: String
        var state: String
        var redirectURI: String
        var verifier: String?
    }

    /// The authorize URL: client, redirect, `response_type=code`, scopes,
    /// state, the PKCE challenge, then the spec's extra parameters (sorted).
    static func authorizeURL(spec: OAuthSpec, base: String, redirectURI: String, state: String, challenge: String?) -> String {
        var pairs: [(String, String)] = [("client_id", spec.clientID), ("redirect_uri", redirectURI), ("response_type", "code")]
        if !spec.scopes.isEmpty { pairs.append(("scope", spec.scopes.joined(separator: " "))) }
        pairs.append(("state", state))
        if let challenge { pairs += [("code_challenge", challenge), ("code_challenge_method", "S256")] }
        for key in spec.authorizeParams.keys.sorted() where !pairs.contains(where: { $0.0 == key }) {
            pairs.append((key, spec.authorizeParams[key]!))
        }
        return URLQuery.appending(pairs, to: base)
    }

    /// Runs the browser part and returns the code.
    func signIn() async throws(LoginError) -> Grant {
        guard let base = spec.authorizeURL, !base.isEmpty else {
            throw LoginError(.misconfigured, "the \(providerID) oauth data has no authorize_url",
                             suggestion: "Set `oauth.authorize_url` in Rules/providers/\(providerID).json or `upstreams.\(providerID).auth-url` in config.yaml.")
        }
        guard let port = options.callbackPort ?? spec.callbackPort, (1...65535).contains(port) else {
            throw LoginError(.misconfigured, "no callback port for the \(providerID) sign-in",
                             suggestion: "Pass --callback-port <port>.")
        }
        let path = spec.callbackPath.map { $0.hasPrefix("/") ? $0 : "/" + $0 } ?? "/callback"
        let redirectURI = "http://localhost:\(port)\(path)"
        let state = PKCE.randomState()
        let pkce = spec.pkce ? PKCE.make(byteCount: 96) : nil

        let (events, sink) = AsyncStream.makeStream(of: WaitEvent.self)
        let server = try await CallbackServer.start(host: options.callbackHost, port: port, path: path, expectedState: state) { answer in
            sink.yield(.answer(answer))
        }
        let url = Self.authorizeURL(spec: spec, base: base, redirectURI: redirectURI, state: state, challenge: pkce?.challenge)
        console.say("Sign in to \(displayName) with this URL:")
        console.say(url)
        if options.noBrowser {
            console.say("Open it in a browser (on any machine).")
        } else if !browser.open(url) {
            console.say("Could not start a browser; open the URL yourself.")
        }
        let pasteHint = acceptsCodeHashState
            ? "the address the browser ends on, or the code#state it shows"
            : "the address the browser ends on (it contains code= and state=)"
        console.say("Waiting for the sign-in (up to \(LoginClock.text(options.timeout)) s). If the browser cannot reach this machine, paste \(pasteHint) here.")

        let timer = Task {
            try? await Task.sleep(nanoseconds: UInt64(max(0, options.timeout) * 1e9))
            if !Task.isCancelled { sink.yield(.timeout) }
        }
        let reader = Task { [console, acceptsCodeHashState] in
            for await line in console.lines() {
                guard let answer = SignInAnswer.judgePasted(line, expectedState: state, acceptsCodeHashState: acceptsCodeHashState) else {
                    if !SignInAnswer.trimmed(Substring(line)).isEmpty {
                        console.say("That is not the sign-in address; paste \(pasteHint).")
                    }
                    continue
                }
                sink.yield(.answer(answer))
            }
        }

        var outcome: Result<Grant, LoginError> = .failure(.cancelled)
        waiting: for await event in events {
            switch event {
            case .timeout:
                outcome = .failure(LoginError(.timedOut, "no sign-in arrived within \(LoginClock.text(options.timeout)) s",
                                              suggestion: "Run the login again; if the browser runs on another machine, use --no-browser and paste the address the browser ends on here."))
                break waiting
            case .answer(.code(let code, let st)):
                outcome = .success(Grant(code: code, state: st, redirectURI: redirectURI, verifier: pkce?.verifier))
                break waiting
            case .answer(.refused(let why)):
                outcome = .failure(LoginError(.denied, "\(displayName) refused the sign-in (\(why))",
                                              suggestion: "Run the login again and approve the access, with the account you want to add."))
                break waiting
            case .answer(.stateMismatch):
                console.say("Ignored an answer that does not belong to this login (state mismatch); still waiting.")
            case .answer(.noCode):
                console.say("Ignored an answer without a code; still waiting.")
            }
        }
        timer.cancel()
        reader.cancel()
        sink.finish()
        await server.stop()
        return try outcome.get()
    }

    /// Exchanges the code at the token endpoint; returns the tokens answer.
    /// `includeState` (Claude) also sends the state in the body.
    func exchange(_ grant: Grant, includeState: Bool = false) async throws(LoginError) -> TokenAnswer {
        var fields: [(String, String)] = [("grant_type", "authorization_code"), ("code", grant.code),
                                          ("redirect_uri", grant.redirectURI), ("client_id", spec.clientID)]
        if let secret = spec.clientSecret, !secret.isEmpty { fields.append(("client_secret", secret)) }
        if let verifier = grant.verifier { fields.append(("code_verifier", verifier)) }
        if includeState { fields.append(("state", grant.state)) }
        let what = "exchange the sign-in code for tokens"
        let answer: LoginHTTP.Answer
        if spec.tokenEncoding.lowercased() == "json" {
            let body = JSONValue.object(Dictionary(fields.map { ($0.0, JSONValue.string($0.1)) }, uniquingKeysWith: { a, _ in a }))
            answer = try await http.postJSON(spec.tokenURL, body, what: what, endpoint: .token)
        } else {
            answer = try await http.postForm(spec.tokenURL, fields, what: what, endpoint: .token)
        }
        let secrets = [grant.code, grant.verifier ?? "", spec.clientSecret ?? ""]
        guard answer.ok else {
            throw LoginHTTP.failure(answer, host: URLQuery.hostPort(spec.tokenURL), what: what, secrets: secrets,
                                    suggestion: "Run the login again (a code works once, for a few minutes); if it keeps failing, check `upstreams.\(providerID).token-url` and the system clock.")
        }
        return try TokenAnswer.read(answer, host: URLQuery.hostPort(spec.tokenURL))
    }

    private enum WaitEvent: Sendable {
        case answer(SignInAnswer)
        case timeout
    }
}

/// The tokens a token endpoint issued. Secrets: never in a message.
struct TokenAnswer: Sendable {
    var accessToken: String
    var refreshToken: String?
    var idToken: String?
    /// Seconds the access token lives (3600 when the answer does not say).
    var expiresIn: Double
    /// The whole answer, for provider-specific fields (`account`, `resource_url`).
    var json: JSONValue

    static func read(_ answer: LoginHTTP.Answer, host: String) throws(LoginError) -> TokenAnswer {
        guard let json = answer.json, let access = json["access_token"]?.string, !access.isEmpty else {
            throw LoginError(.badResponse, "\(host) answered HTTP \(answer.status) without an access_token",
                             suggestion: "Run the login again; if it keeps happening, check that the token URL is the provider's.")
        }
        let expires = json["expires_in"]?.number ?? json["expires_in"]?.string.flatMap(Double.init)
        func nonEmpty(_ s: String?) -> String? { (s?.isEmpty ?? true) ? nil : s }
        return TokenAnswer(accessToken: access, refreshToken: nonEmpty(json["refresh_token"]?.string),
                           idToken: nonEmpty(json["id_token"]?.string), expiresIn: expires ?? 3600, json: json)
    }
}
