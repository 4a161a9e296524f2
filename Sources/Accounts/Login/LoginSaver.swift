/// Writes what a login produced into the auth directory (atomically, 0600,
/// folder 0700) and says so. Signing in again to an account that already has
/// a file replaces its tokens and identity but keeps the fields the user set
/// there (`prefix`, `priority`, `proxy_url`, `label`, …).
enum LoginSaver {
    static func save(kind: AccountKind, name: String, fields: JSONValue, who: String?,
                     directory: AuthDirectory, console: any LoginConsole) throws(LoginError) -> LoginResult {
        let fileName = safeName(name)
        var json = fields
        if var merged = directory.read(fileName).flatMap(JSONValue.parse)?.object {
            for (k, v) in fields.object ?? [:] { merged[k] = v }
            json = .object(merged)
        }
        let file = CredentialFile(name: fileName, kind: kind, json: json)
        do {
            try directory.write(file)
        } catch {
            throw LoginError(.cannotWrite, "signed in, but \(error)",
                             suggestion: "Check that `auth-dir` in config.yaml names a folder you can write, then run the login again.")
        }
        let path = directory.path.hasSuffix("/") ? directory.path + fileName : directory.path + "/" + fileName
        let label = (who?.isEmpty ?? true) ? fileName : who!
        console.say("Added \(displayName(kind)) account \(label) → \(path)")
        return LoginResult(file: file, path: path)
    }

    static func displayName(_ kind: AccountKind) -> String {
        switch kind {
        case .gemini: return "Gemini"
        case .codex: return "Codex"
        case .claude: return "Claude"
        case .qwen: return "Qwen"
        }
    }

    /// A plain file name: no `/`, no control characters, no leading dot.
    static func safeName(_ name: String) -> String {
        var out = String(name.map { c -> Character in
            (c == "/" || c == "\\" || c.asciiValue.map { $0 < 0x20 || $0 == 0x7F } == true) ? "_" : c
        })
        while out.hasPrefix(".") { out = "_" + out.dropFirst() }
        return out
    }
}
