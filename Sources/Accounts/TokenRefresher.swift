import UpstreamTransport

/// Sends one account's refresh-token exchange to its provider's token
/// endpoint, trying up to `1 + retryDelays.count` times when the network
/// fails or the endpoint answers 5xx (waiting `retryDelays[i]` seconds
/// before attempt i + 2). A 4xx answer is final at once.
struct TokenRefresher: Sendable {
    let transport: UpstreamTransport
    /// Waits between attempts, in seconds (1 s then 2 s in production).
    let retryDelays: [Double]

    /// Exchanges the file's refresh token. Never throws: every failure is an
    /// ``RefreshCall/Answer`` whose text holds no secret.
    func refresh(_ file: CredentialFile, spec: OAuthSpec, options: TransportOptions) async -> RefreshCall.Answer {
        guard let refreshToken = file.refreshToken, !refreshToken.isEmpty else {
            return .needsLogin("the file has no refresh_token")
        }
        let request = RefreshCall.request(for: file, spec: spec)
        let secrets = [refreshToken, file.accessToken ?? "", file.clientSecret ?? "", spec.clientSecret ?? ""]
        var attempt = 0
        while true {
            let answer: RefreshCall.Answer
            do {
                let (head, body) = try await transport.send(request, options: options)
                answer = RefreshCall.read(status: head.status, body: body, secrets: secrets)
            } catch {
                if error == .cancelled { return .failed("the refresh was cancelled", retryable: false) }
                answer = .failed("cannot reach the token endpoint: \(error)", retryable: true)
            }
            guard case .failed(_, retryable: true) = answer, attempt < retryDelays.count else { return answer }
            let wait = retryDelays[attempt]
            attempt += 1
            if wait > 0 { try? await Task.sleep(for: .milliseconds(Int64(wait * 1000))) }
        }
    }
}
