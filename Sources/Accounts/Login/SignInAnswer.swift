/// What the provider sent back to the redirect URI — through the browser to
/// the loopback callback, or pasted by the user — judged against the login's
/// `state`.
enum SignInAnswer: Sendable, Equatable {
    /// A code for this login.
    case code(String, state: String)
    /// The provider refused the sign-in (`error=`), with its description.
    case refused(String)
    /// `state` missing or not this login's: ignored, the login keeps waiting.
    case stateMismatch
    /// Right state but no code: ignored.
    case noCode

    /// Judges callback query parameters. The state is checked first, so a
    /// stray or forged redirect can neither complete nor abort the login.
    static func judge(_ params: [(String, String)], expectedState: String) -> SignInAnswer {
        func value(_ name: String) -> String? { params.first { $0.0 == name }?.1 }
        guard let state = value("state"), state == expectedState else { return .stateMismatch }
        if let error = value("error"), !error.isEmpty {
            let detail = value("error_description").flatMap { $0.isEmpty ? nil : $0 }
            return .refused(clip(detail.map { "\(error): \($0)" } ?? error))
        }
        guard let code = value("code"), !code.isEmpty else { return .noCode }
        return .code(code, state: state)
    }

    /// Judges a line the user pasted: the address the browser was sent to
    /// (or just its query), or — when `acceptsCodeHashState` (Claude) — the
    /// `code#state` text the provider's page shows. Nil when the line is
    /// none of these.
    static func judgePasted(_ line: String, expectedState: String, acceptsCodeHashState: Bool) -> SignInAnswer? {
        let text = trimmed(Substring(line))
        if text.isEmpty { return nil }
        if text.contains("?") {
            let params = URLQuery.parameters(ofURL: text)
            return params.contains(where: { $0.0 == "code" || $0.0 == "error" || $0.0 == "state" })
                ? judge(params, expectedState: expectedState) : nil
        }
        if text.contains("code=") || text.contains("error=") {
            return judge(URLQuery.parse(text), expectedState: expectedState)
        }
        if acceptsCodeHashState, let hash = text.firstIndex(of: "#"), !text.contains(" ") {
            let code = String(text[..<hash]), state = String(text[text.index(after: hash)...])
            return judge([("code", code), ("state", state)], expectedState: expectedState)
        }
        return nil
    }

    static func trimmed(_ text: Substring) -> Substring {
        var s = text
        while let f = s.first, f.isWhitespace { s = s.dropFirst() }
        while let l = s.last, l.isWhitespace { s = s.dropLast() }
        return s
    }

    static func clip(_ text: String) -> String { text.count > 300 ? String(text.prefix(300)) + "…" : text }
}

