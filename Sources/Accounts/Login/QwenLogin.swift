/// Qwen: the OAuth device flow (RFC 8628) with an S256 PKCE challenge. The
/// user approves a code in a browser anywhere; meanwhile the token endpoint
/// is polled every `interval` s (5 when unset, × pollScale):
/// `authorization_pending` keeps waiting, `slow_down` stretches the interval
/// by 1.5 (up to 10 s), `expired_token` / `access_denied` fail, and the wait
/// ends at the code's `expires_in` or the login's timeout.
struct QwenLogin: Sendable {
    let spec: OAuthSpec
    let http: LoginHTTP
    let options: LoginOptions
    let console: any LoginConsole
    let browser: any BrowserOpener
    let directory: AuthDirectory

    static let defaultInterval = 5.0
    static let maxInterval = 10.0

    func run() async throws(LoginError) -> LoginResult {
        guard let deviceURL = spec.deviceURL, !deviceURL.isEmpty else {
            throw LoginError(.misconfigured, "the qwen oauth data has no device_url",
                             suggestion: "Set `oauth.device_url` in Rules/providers/qwen.json or `upstreams.qwen.device-url` in config.yaml.")
        }
        let pkce = PKCE.make(byteCount: 32)
        let start = try await http.postForm(deviceURL, [
            ("client_id", spec.clientID), ("scope", spec.scopes.joined(separator: " ")),
            ("code_challenge", pkce.challenge), ("code_challenge_method", "S256"),
        ], what: "start the device sign-in", endpoint: .device)
        let deviceHost = URLQuery.hostPort(deviceURL)
        guard start.ok else {
            throw LoginHTTP.failure(start, host: deviceHost, what: "start the device sign-in", secrets: [pkce.verifier],
                                    suggestion: "Run the login again; if it keeps failing, check `upstreams.qwen.device-url`.")
        }
        guard let json = start.json, let deviceCode = json["device_code"]?.string, !deviceCode.isEmpty else {
            throw LoginError(.badResponse, "\(deviceHost) answered without a device_code",
                             suggestion: "Run the login again; if it keeps happening, check `upstreams.qwen.device-url`.")
        }
        let userCode = json["user_code"]?.string ?? ""
        let plain = json["verification_uri"]?.string ?? ""
        let complete = json["verification_uri_complete"]?.string ?? ""
        if !plain.isEmpty && !userCode.isEmpty { console.say("To sign in to Qwen, open \(plain) and enter the code \(userCode)") }
        if !complete.isEmpty { console.say((plain.isEmpty ? "To sign in to Qwen, open " : "or open ") + complete) }
        let toOpen = complete.isEmpty ? plain : complete
        if !options.noBrowser, !toOpen.isEmpty, !browser.open(toOpen) {
            console.say("Could not start a browser; open the URL yourself.")
        }
        let expiresIn = Self.seconds(json["expires_in"]) ?? options.timeout
        var interval = Self.seconds(json["interval"]).map { $0 > 0 ? $0 : Self.defaultInterval } ?? Self.defaultInterval
        console.say("Waiting for the approval (up to \(LoginClock.text(min(expiresIn, options.timeout))) s)…")

        let tokens = try await poll(deviceCode: deviceCode, verifier: pkce.verifier, expiresIn: expiresIn, interval: &interval)
        let now = LoginClock.now()
        let fields: [String: JSONValue] = [
            "access_token": .string(tokens.accessToken),
            "refresh_token": .string(tokens.refreshToken ?? ""),
            "last_refresh": .string(RFC3339.format(now)),
            "resource_url": .string(tokens.json["resource_url"]?.string ?? ""),
            "email": .string(""),
            "type": .string(AccountKind.qwen.rawValue),
            "expired": .string(RFC3339.format(now + tokens.expiresIn)),
        ]
        return try LoginSaver.save(kind: .qwen, name: "qwen-\(Int64(now * 1000)).json", fields: .object(fields), who: nil,
                                   directory: directory, console: console)
    }

    /// Polls until the user approves; `interval` ends as the last one used.
    func poll(deviceCode: String, verifier: String, expiresIn: Double, interval: inout Double) async throws(LoginError) -> TokenAnswer {
        let tokenHost = URLQuery.hostPort(spec.tokenURL)
        let secrets = [deviceCode, verifier]
        let deadline = LoginClock.monotonic() + options.timeout
        var waited = 0.0
        while true {
            guard waited + interval <= expiresIn, LoginClock.monotonic() + interval * options.pollScale <= deadline else {
                throw LoginError(.timedOut, "the Qwen code was not approved in time",
                                 suggestion: "Run the login again and approve the code within \(LoginClock.text(min(expiresIn, options.timeout))) s.")
            }
            try await LoginClock.sleep(interval * options.pollScale)
            waited += interval
            let answer = try await http.postForm(spec.tokenURL, [
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"), ("client_id", spec.clientID),
                ("device_code", deviceCode), ("code_verifier", verifier),
            ], what: "check the device sign-in", endpoint: .token)
            if answer.ok, answer.json?["access_token"]?.string?.isEmpty == false {
                return try TokenAnswer.read(answer, host: tokenHost)
            }
            switch LoginHTTP.errorCode(answer.json) {
            case "authorization_pending":
                continue
            case "slow_down":
                interval = max(interval, min(interval * 1.5, Self.maxInterval))
                console.say("Qwen asked to poll more slowly; checking every \(LoginClock.text(interval)) s.")
            case "expired_token":
                throw LoginError(.timedOut, "the Qwen code expired before it was approved",
                                 suggestion: "Run the login again and approve the new code.")
            case "access_denied":
                throw LoginError(.denied, "the Qwen sign-in was denied",
                                 suggestion: "Run the login again and approve the access.")
            default:
                if answer.ok {
                    throw LoginError(.badResponse, "\(tokenHost) answered HTTP \(answer.status) without an access_token",
                                     suggestion: "Run the login again; if it keeps happening, check `upstreams.qwen.token-url`.")
                }
                throw LoginHTTP.failure(answer, host: tokenHost, what: "complete the device sign-in", secrets: secrets,
                                        suggestion: "Run the login again; if it keeps failing, check `upstreams.qwen.token-url`.")
            }
        }
    }

    static func seconds(_ value: JSONValue?) -> Double? {
        value?.number ?? value?.string.flatMap(Double.init)
    }
}
