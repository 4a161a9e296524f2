// config.yaml → ProxyConfig: type checks, validation, warnings for unknown keys.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A parsed config and the warnings found while reading it.
public typealias ConfigLoadResult = Result<(ProxyConfig, [ConfigDiagnostic]), ConfigError>

extension ProxyConfig {
    /// Parses config.yaml text.
    ///
    /// - Parameters:
    ///   - text: the file's contents. Empty, or only comments, gives all defaults.
    ///   - file: the name used in messages (`config.yaml:12`).
    ///   - home: the directory `~` stands for; nil uses $HOME (else the password database).
    /// - Returns: the config and its warnings (unknown keys, ignored empty entries), or a
    ///   ``ConfigError`` listing every error — YAML syntax (with line and column), wrong types,
    ///   invalid values — each naming the key path and `file:line`. Nothing is thrown.
    public static func parse(_ text: String, file: String, home: String? = nil) -> ConfigLoadResult {
        switch YAMLDocument.parse(text) {
        case .success(let document):
            return parse(document: document, file: file, home: home)
        case .failure(let e):
            var message = e.message
            if let context = e.context {
                message += " (\(context)" + (e.contextMark.map { " at line \($0.line), column \($0.column)" } ?? "") + ")"
            }
            return .failure(ConfigError([ConfigDiagnostic(severity: .error, file: file, line: e.line, column: e.column,
                                                          keyPath: nil, message: "YAML syntax error: " + message)]))
        }
    }

    /// Reads settings from an already parsed document (e.g. one the management API is editing).
    /// Only the first document of the stream is used; more give a warning.
    public static func parse(document: YAMLDocument, file: String, home: String? = nil) -> ConfigLoadResult {
        var decoder = ConfigDecoder(file: file, home: home ?? homeDirectory())
        let config = decoder.decode(document)
        if !decoder.errors.isEmpty {
            return .failure(ConfigError(decoder.errors.sorted { ($0.line ?? 0) < ($1.line ?? 0) }))
        }
        return .success((config, decoder.warnings.sorted { ($0.line ?? 0) < ($1.line ?? 0) }))
    }

    /// Reads and parses the file at `path` (which names it in messages). A file that cannot be
    /// read or is not UTF-8 is an error without a line.
    ///
    /// - Parameter refusingEmpty: an empty (or blank) file is an error rather than all defaults —
    ///   for a reload, which may catch an in-place save between its truncate and its write.
    public static func load(path: String, home: String? = nil, refusingEmpty: Bool = false) -> ConfigLoadResult {
        func fail(_ message: String) -> ConfigLoadResult {
            .failure(ConfigError([ConfigDiagnostic(severity: .error, file: path, line: nil, keyPath: nil, message: message)]))
        }
        guard let f = fopen(path, "rb") else {
            return fail("cannot read the config file: \(String(cString: strerror(errno)))")
        }
        defer { fclose(f) }
        var bytes: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&buf, 1, buf.count, f)
            if n > 0 { bytes.append(contentsOf: buf[0..<n]) }
            if n < buf.count { break }
        }
        if ferror(f) != 0 { return fail("cannot read the config file: \(String(cString: strerror(errno)))") }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            return fail("the config file is not valid UTF-8")
        }
        if refusingEmpty && text.allSatisfy(\.isWhitespace) {
            return fail("the file is empty (a save in progress?); a config of all defaults needs at least a comment")
        }
        return parse(text, file: path, home: home)
    }

    /// `~` → `home`, `~/x` → `home/x`; anything else (including `~user/x`) unchanged.
    public static func expandTilde(_ path: String, home: String) -> String {
        guard path == "~" || path.hasPrefix("~/") else { return path }
        var h = home
        while h.count > 1 && h.hasSuffix("/") { h.removeLast() }
        if path == "~" { return h }
        return (h == "/" ? "" : h) + path.dropFirst()
    }

    /// $HOME when set and non-empty, else the current user's home from the password database, else `/`.
    public static func homeDirectory() -> String {
        if let h = getenv("HOME"), h.pointee != 0 { return String(cString: h) }
        var pwd = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16384)
        if getpwuid_r(getuid(), &pwd, &buffer, buffer.count, &result) == 0, result != nil, let dir = pwd.pw_dir {
            return String(cString: dir)
        }
        return "/"
    }
}

// MARK: - Decoder

struct ConfigDecoder {
    let file: String
    let home: String
    var warnings: [ConfigDiagnostic] = []
    var errors: [ConfigDiagnostic] = []

    init(file: String, home: String) {
        self.file = file
        self.home = home
    }

    static let topLevelKeys: Set<String> = [
        "port", "auth-dir", "proxy-url", "request-retry", "remote-management", "quota-exceeded", "debug",
        "api-keys", "generative-language-api-key", "claude-api-key", "openai-compatibility",
        "host", "request-log", "usage-statistics-enabled", "usage-statistics-path", "usage-statistics-retention-days", "rules-dir", "max-body-size", "connect-timeout",
        "stream-idle-timeout", "shutdown-grace-period", "upstreams",
    ]

    // MARK: Reporting

    mutating func error(_ node: YAMLNode, _ path: String, _ message: String) {
        errors.append(ConfigDiagnostic(severity: .error, file: file, line: node.start.line, column: node.start.column,
                                       keyPath: path, message: message))
    }

    mutating func warn(_ node: YAMLNode, _ path: String?, _ message: String) {
        warnings.append(ConfigDiagnostic(severity: .warning, file: file, line: node.start.line, column: node.start.column,
                                         keyPath: path, message: message))
    }

    /// What a node holds, for "got …": `"abc"`, `70000`, `true`, `a list`, `a mapping`.
    /// A quoted scalar that would be a number or bool unquoted says so.
    static func got(_ node: YAMLNode) -> String {
        switch node.content {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .scalar(let s):
            switch s.resolved {
            case .string(let v):
                let quotedNumber = s.isQuoted && YAMLScalar.resolvePlain(v) != .string(v) && !YAMLScalar.isNullText(v)
                return YAMLDocument.quoted(v) + (quotedNumber ? " (quoted, so a string)" : "")
            case .null: return "null"
            default: return s.value
            }
        }
    }

    /// "a list" / "a mapping" / "a value": what a secret's node holds, never its text.
    static func gotHidden(_ node: YAMLNode) -> String {
        switch node.content {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .scalar: return "a scalar"
        }
    }

    // MARK: Typed readers (nil: absent, null, or an error already recorded)

    mutating func int(_ node: YAMLNode, _ path: String, in range: ClosedRange<Int>, expected: String) -> Int? {
        if node.isNull { return nil }
        guard let v = node.int, range.contains(v) else {
            error(node, path, "`\(path)` must be \(expected), got \(Self.got(node))")
            return nil
        }
        return v
    }

    /// `true`/`false` (any case style); also `yes`/`no`/`on`/`off`/`y`/`n` written plain, as the
    /// Go YAML library of the replaced proxy accepts them for booleans. Quoted text is not a bool.
    mutating func bool(_ node: YAMLNode, _ path: String) -> Bool? {
        if node.isNull { return nil }
        if let b = node.bool { return b }
        if let s = node.scalar, s.style == .plain, s.tag == nil {
            switch s.value {
            case "yes", "Yes", "YES", "on", "On", "ON", "y", "Y": return true
            case "no", "No", "NO", "off", "Off", "OFF", "n", "N": return false
            default: break
            }
        }
        error(node, path, "`\(path)` must be true or false, got \(Self.got(node))")
        return nil
    }

    /// Any non-null scalar's text (`key: 123` reads as "123", as in the replaced proxy).
    mutating func string(_ node: YAMLNode, _ path: String, secret: Bool = false) -> String? {
        if node.isNull { return nil }
        guard let s = node.string else {
            error(node, path, "`\(path)` must be a string, got \(secret ? Self.gotHidden(node) : Self.got(node))")
            return nil
        }
        return s
    }

    /// A list of secrets; null and empty entries are dropped with a warning.
    mutating func secretList(_ node: YAMLNode, _ path: String) -> [Secret]? {
        if node.isNull { return nil }
        guard let items = node.sequence else {
            error(node, path, "`\(path)` must be a list of strings, got \(Self.gotHidden(node))")
            return nil
        }
        var out: [Secret] = []
        for (i, item) in items.enumerated() {
            let p = "\(path)[\(i)]"
            guard let s = string(item, p, secret: true) else {
                if item.isNull { warn(item, p, "empty entry `\(p)` ignored") }
                continue
            }
            if s.isEmpty { warn(item, p, "empty entry `\(p)` ignored"); continue }
            out.append(Secret(s))
        }
        return out
    }

    /// The entries of a mapping; warns about keys not in `known`.
    mutating func mapping(_ node: YAMLNode, _ path: String, known: Set<String>, expected: String) -> [(String, YAMLNode)]? {
        if node.isNull { return nil }
        guard let pairs = node.mapping else {
            error(node, path, "`\(path)` must be \(expected), got \(Self.got(node))")
            return nil
        }
        var out: [(String, YAMLNode)] = []
        for pair in pairs {
            guard let key = pair.key.scalar?.value else {
                warn(pair.key, path, "unsupported key (\(pair.key.kindDescription)) in `\(path)`")
                continue
            }
            let p = path.isEmpty ? key : "\(path).\(key)"
            guard known.contains(key) else {
                warn(pair.key, p, "unknown key `\(p)`")
                continue
            }
            out.append((key, pair.value))
        }
        return out
    }

    /// A URL: one of `schemes`, `://`, a host (name, IPv4 or `[IPv6]`), an optional port, no blanks.
    static func isURL(_ s: String, schemes: Set<String>) -> Bool {
        guard let sep = s.firstRange(of: "://"),
              schemes.contains(s[..<sep.lowerBound].lowercased()),
              !s.contains(where: { $0.isWhitespace || ($0.asciiValue.map { $0 < 0x20 || $0 == 0x7F } ?? false) })
        else { return false }
        let rest = s[sep.upperBound...]
        var authority = rest[..<(rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex)]
        if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
        var host: Substring, port: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return false }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if after.isEmpty { port = nil } else {
                guard after.first == ":" else { return false }
                port = after.dropFirst()
            }
            guard !host.isEmpty, host.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else { return false }
        } else {
            let parts = authority.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            host = parts[0]
            port = parts.count > 1 ? parts[1] : nil
            guard !host.isEmpty, !host.contains(where: { "[]<>\"{}|\\^`%".contains($0) }) else { return false }
        }
        if let port {
            guard let n = Int(port), (1...65535).contains(n), port.allSatisfy(\.isNumber) else { return false }
        }
        return true
    }

    /// An optional http(s) URL; "" counts as not set.
    mutating func httpURL(_ node: YAMLNode, _ path: String) -> String? {
        guard let s = string(node, path), !s.isEmpty else { return nil }
        guard Self.isURL(s, schemes: ["http", "https"]) else {
            error(node, path, "`\(path)` must be an http(s) URL such as \"https://api.example.com/v1\", got \(YAMLDocument.quoted(Secret.maskURL(s)))")
            return nil
        }
        return s
    }

    /// `33554432`, `"512KB"`, `"32 MB"`, `"1GiB"` → bytes (> 0). Units are powers of 1024.
    static func parseSize(_ text: String) -> Int? {
        let s = text.filter { $0 != " " }
        let digits = s.prefix(while: { $0.isASCII && $0.isNumber })
        guard !digits.isEmpty, let n = Int(digits) else { return nil }
        let multiplier: Int
        switch s.dropFirst(digits.count).lowercased() {
        case "", "b": multiplier = 1
        case "k", "kb", "kib": multiplier = 1 << 10
        case "m", "mb", "mib": multiplier = 1 << 20
        case "g", "gb", "gib": multiplier = 1 << 30
        default: return nil
        }
        let (v, overflow) = n.multipliedReportingOverflow(by: multiplier)
        return overflow || v <= 0 ? nil : v
    }

    mutating func size(_ node: YAMLNode, _ path: String) -> Int? {
        if node.isNull { return nil }
        let value: Int?
        if let i = node.int { value = i > 0 ? i : nil } else if node.scalar != nil, let s = node.string { value = Self.parseSize(s) } else { value = nil }
        guard let value else {
            error(node, path, "`\(path)` must be a positive size in bytes: an integer, or a string such as \"512KB\" or \"32MB\", got \(Self.got(node))")
            return nil
        }
        return value
    }

    /// Seconds as a number, or a string `"500ms"`, `"30s"`, `"2m"`, `"1h"` (a bare number is seconds).
    static func parseSeconds(_ text: String) -> Double? {
        let s = text.filter { $0 != " " }.lowercased()
        let numberEnd = s.firstIndex(where: { !($0.isASCII && ($0.isNumber || $0 == ".")) }) ?? s.endIndex
        let number = String(s[..<numberEnd])
        guard let d = YAMLScalar.parseInt(number).map(Double.init) ?? YAMLScalar.parseFloat(number) else { return nil }
        switch s[numberEnd...] {
        case "", "s", "sec": return d
        case "ms": return d / 1000
        case "m", "min": return d * 60
        case "h": return d * 3600
        default: return nil
        }
    }

    mutating func duration(_ node: YAMLNode, _ path: String) -> Duration? {
        if node.isNull { return nil }
        var seconds: Double?
        if let d = node.double { seconds = d } else if node.scalar != nil, let s = node.string { seconds = Self.parseSeconds(s) }
        guard let seconds, seconds.isFinite, seconds > 0, seconds <= 86400 else {
            error(node, path, "`\(path)` must be a number of seconds greater than 0 and at most 86400, or a string such as \"500ms\", \"30s\" or \"2m\", got \(Self.got(node))")
            return nil
        }
        return .milliseconds(Int64((seconds * 1000).rounded()))
    }

    // MARK: The document

    mutating func decode(_ document: YAMLDocument) -> ProxyConfig {
        var c = ProxyConfig(home: home)
        if document.documents.count > 1 {
            warn(document.documents[1], nil, "only the first YAML document is read; \(document.documents.count - 1) more ignored")
        }
        guard let root = document.root, !root.isNull else { return c }
        guard root.mapping != nil, let top = mapping(root, "", known: Self.topLevelKeys, expected: "") else {
            error(root, "", "the config must be a mapping of settings (`key: value` lines), got \(Self.got(root))")
            return c
        }
        for (key, node) in top {
            switch key {
            case "port":
                if let v = int(node, key, in: 1...65535, expected: "an integer between 1 and 65535") { c.port = v }
            case "auth-dir":
                if let v = string(node, key) {
                    if v.isEmpty { warn(node, key, "empty `auth-dir` ignored; using \(ProxyConfig.defaultAuthDir)") } else {
                        c.authDir = v
                        c.authDirPath = ProxyConfig.expandTilde(v, home: home)
                    }
                }
            case "proxy-url":
                if let v = string(node, key) {
                    if !v.isEmpty && !Self.isURL(v, schemes: ["socks5", "socks5h", "socks4", "socks4a", "http", "https"]) {
                        error(node, key, "`proxy-url` must be a URL with scheme socks5, socks5h, socks4, socks4a, http or https, such as \"socks5://user:pass@192.168.1.1:1080/\", got \(YAMLDocument.quoted(Secret.maskURL(v)))")
                    } else {
                        c.proxyURL = v
                    }
                }
            case "request-retry":
                if let v = int(node, key, in: 0...Int.max, expected: "an integer of at least 0") { c.requestRetry = v }
            case "remote-management":
                for (k, n) in mapping(node, key, known: ["allow-remote", "secret-key"], expected: "a mapping with allow-remote and secret-key") ?? [] {
                    let p = "\(key).\(k)"
                    if k == "allow-remote", let v = bool(n, p) { c.remoteManagement.allowRemote = v }
                    if k == "secret-key", let v = string(n, p, secret: true) { c.remoteManagement.secretKey = Secret(v) }
                }
            case "quota-exceeded":
                for (k, n) in mapping(node, key, known: ["switch-project", "switch-preview-model"], expected: "a mapping with switch-project and switch-preview-model") ?? [] {
                    let p = "\(key).\(k)"
                    if k == "switch-project", let v = bool(n, p) { c.quotaExceeded.switchProject = v }
                    if k == "switch-preview-model", let v = bool(n, p) { c.quotaExceeded.switchPreviewModel = v }
                }
            case "debug":
                if let v = bool(node, key) { c.debug = v }
            case "api-keys":
                if let v = secretList(node, key) { c.apiKeys = v }
            case "generative-language-api-key":
                if let v = secretList(node, key) { c.generativeLanguageAPIKeys = v }
            case "claude-api-key":
                if let v = claudeKeys(node, key) { c.claudeAPIKeys = v }
            case "openai-compatibility":
                if let v = openAIProviders(node, key) { c.openAICompatibility = v }
            case "host":
                if let v = string(node, key) {
                    if v.isEmpty || v.contains(where: \.isWhitespace) {
                        error(node, key, "`host` must be an address or host name such as \"127.0.0.1\" or \"0.0.0.0\", got \(Self.got(node))")
                    } else {
                        c.host = v
                    }
                }
            case "request-log":
                if let v = bool(node, key) { c.requestLog = v }
            case "usage-statistics-enabled":
                if let v = bool(node, key) { c.usageStatisticsEnabled = v }
            case "usage-statistics-path":
                if let v = string(node, key), !v.isEmpty { c.usageStatisticsPath = ProxyConfig.expandTilde(v, home: home) }
            case "usage-statistics-retention-days":
                if let v = int(node, key, in: 0...36500, expected: "a number of days from 0 (keep everything) to 36500") { c.usageStatisticsRetentionDays = v }
            case "rules-dir":
                if let v = string(node, key), !v.isEmpty {
                    c.rulesDir = v
                    c.rulesDirPath = ProxyConfig.expandTilde(v, home: home)
                }
            case "max-body-size":
                if let v = size(node, key) { c.maxBodySize = v }
            case "connect-timeout":
                if let v = duration(node, key) { c.connectTimeout = v }
            case "stream-idle-timeout":
                if let v = duration(node, key) { c.streamIdleTimeout = v }
            case "shutdown-grace-period":
                if let v = duration(node, key) { c.shutdownGracePeriod = v }
            case "upstreams":
                if let v = upstreams(node, key) { c.upstreams = v }
            default:
                break
            }
        }
        return c
    }

    /// A list whose items must be mappings; calls `item` with each item's entries.
    mutating func listOfMappings(_ node: YAMLNode, _ path: String, known: Set<String>, expected: String,
                                 _ item: (inout ConfigDecoder, YAMLNode, String, [(String, YAMLNode)]) -> Void) -> Bool {
        if node.isNull { return false }
        guard let items = node.sequence else {
            error(node, path, "`\(path)` must be a list, each entry \(expected), got \(Self.got(node))")
            return false
        }
        for (i, itemNode) in items.enumerated() {
            let p = "\(path)[\(i)]"
            if itemNode.isNull { warn(itemNode, p, "empty entry `\(p)` ignored"); continue }
            guard let entries = mapping(itemNode, p, known: known, expected: expected) else { continue }
            item(&self, itemNode, p, entries)
        }
        return true
    }

    mutating func claudeKeys(_ node: YAMLNode, _ path: String) -> [ProxyConfig.ClaudeAPIKey]? {
        var out: [ProxyConfig.ClaudeAPIKey] = []
        let ok = listOfMappings(node, path, known: ["api-key", "base-url"], expected: "a mapping with api-key and an optional base-url") {
            d, itemNode, p, entries in
            var key: String?, baseURL: String?, keyGiven = false, valid = true
            for (k, n) in entries {
                if k == "api-key" {
                    keyGiven = !n.isNull && n.string != ""
                    key = d.string(n, "\(p).api-key", secret: true)
                }
                if k == "base-url" {
                    baseURL = d.httpURL(n, "\(p).base-url")
                    if baseURL == nil && !n.isNull && n.string != "" { valid = false }
                }
            }
            guard let key, !key.isEmpty else {
                if !keyGiven { d.error(itemNode, "\(p).api-key", "`\(p).api-key` is required") }
                return
            }
            guard valid else { return }
            out.append(ProxyConfig.ClaudeAPIKey(apiKey: Secret(key), baseURL: baseURL))
        }
        return ok ? out : nil
    }

    mutating func openAIProviders(_ node: YAMLNode, _ path: String) -> [ProxyConfig.OpenAICompatibleProvider]? {
        var out: [ProxyConfig.OpenAICompatibleProvider] = []
        var names: [String: Int] = [:]
        let ok = listOfMappings(node, path, known: ["name", "base-url", "api-keys", "models"],
                                expected: "a mapping with name, base-url and optional api-keys and models") { d, itemNode, p, entries in
            var name: String?, baseURL: String?, keys: [Secret] = [], models: [ProxyConfig.OpenAICompatibleProvider.Model] = []
            var baseURLGiven = false
            for (k, n) in entries {
                switch k {
                case "name": name = d.string(n, "\(p).name")
                case "base-url":
                    baseURLGiven = !n.isNull && n.string != ""
                    baseURL = d.httpURL(n, "\(p).base-url")
                case "api-keys": keys = d.secretList(n, "\(p).api-keys") ?? []
                case "models":
                    _ = d.listOfMappings(n, "\(p).models", known: ["name", "alias"], expected: "a mapping with name and an optional alias") {
                        d, modelNode, mp, modelEntries in
                        var modelName: String?, alias: String?
                        for (mk, mn) in modelEntries {
                            if mk == "name" { modelName = d.string(mn, "\(mp).name") }
                            if mk == "alias", let a = d.string(mn, "\(mp).alias"), !a.isEmpty { alias = a }
                        }
                        guard let modelName, !modelName.isEmpty else {
                            d.error(modelNode, "\(mp).name", "`\(mp).name` is required")
                            return
                        }
                        models.append(.init(name: modelName, alias: alias))
                    }
                default: break
                }
            }
            guard let name, !name.isEmpty else {
                d.error(itemNode, "\(p).name", "`\(p).name` is required")
                return
            }
            guard let baseURL else {
                if !baseURLGiven { d.error(itemNode, "\(p).base-url", "`\(p).base-url` is required") }
                return
            }
            if let first = names[name] {
                d.warn(itemNode, "\(p).name", "provider name \(YAMLDocument.quoted(name)) in `\(p)` is also used by `\(path)[\(first)]`")
            } else {
                names[name] = out.count
            }
            out.append(.init(name: name, baseURL: baseURL, apiKeys: keys, models: models))
        }
        return ok ? out : nil
    }

    mutating func upstreams(_ node: YAMLNode, _ path: String) -> [String: ProxyConfig.UpstreamEndpoints]? {
        if node.isNull { return nil }
        guard let pairs = node.mapping else {
            error(node, path, "`\(path)` must be a mapping of provider id to endpoints, got \(Self.got(node))")
            return nil
        }
        var out: [String: ProxyConfig.UpstreamEndpoints] = [:]
        for pair in pairs {
            guard let id = pair.key.scalar?.value, !id.isEmpty else {
                warn(pair.key, path, "unsupported key (\(pair.key.kindDescription)) in `\(path)`")
                continue
            }
            let p = "\(path).\(id)"
            var e = ProxyConfig.UpstreamEndpoints()
            let known: Set<String> = ["base-url", "auth-url", "token-url", "device-url"]
            for (k, n) in mapping(pair.value, p, known: known, expected: "a mapping with base-url, auth-url, token-url or device-url") ?? [] {
                let url = httpURL(n, "\(p).\(k)")
                switch k {
                case "base-url": e.baseURL = url
                case "auth-url": e.authURL = url
                case "token-url": e.tokenURL = url
                default: e.deviceURL = url
                }
            }
            out[id] = e
        }
        return out
    }
}
