import Testing
@testable import ProxyConfig

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The example config.yaml of the replaced proxy's README, verbatim (trailing blanks included).
let seedExample = """
# Server port
port: 8317

# Management API settings
remote-management:
  # Whether to allow remote (non-localhost) management access.
  # When false, only localhost can access management endpoints (a key is still required).
  allow-remote: false

  # Management key. If a plaintext value is provided here, it will be hashed on startup.
  # All management requests (even from localhost) require this key.
  # Leave empty to disable the Management API entirely (404 for all /v0/management routes).
  secret-key: ""

# Authentication directory (supports ~ for home directory). If you use Windows, please set the directory like this: `C:/cli-proxy-api/`
auth-dir: "~/.cli-proxy-api"

# Enable debug logging
debug: false

# Proxy URL. Supports socks5/http/https protocols. Example: socks5://user:pass@192.168.1.1:1080/
proxy-url: ""

# Number of times to retry a request. Retries will occur if the HTTP response code is 403, 408, 500, 502, 503, or 504.
request-retry: 3

# Quota exceeded behavior
quota-exceeded:
   switch-project: true # Whether to automatically switch to another project when a quota is exceeded
   switch-preview-model: true # Whether to automatically switch to a preview model when a quota is exceeded

# API keys for authentication
api-keys:
  - "your-api-key-1"
  - "your-api-key-2"

# API keys for official Generative Language API
generative-language-api-key:
  - "AIzaSy...01"
  - "AIzaSy...02"
  - "AIzaSy...03"
  - "AIzaSy...04"
  \("")
# Claude API keys
claude-api-key:
  - api-key: "sk-atSM..." # use the official claude API key, no need to set the base url
  - api-key: "sk-atSM..."
    base-url: "https://www.example.com" # use the custom claude API endpoint

# OpenAI compatibility providers
openai-compatibility:
  - name: "openrouter" # The name of the provider; it will be used in the user agent and other places.
    base-url: "https://openrouter.ai/api/v1" # The base URL of the provider.
    api-keys: # The API keys for the provider. Add multiple keys if needed. Omit if unauthenticated access is allowed.
      - "sk-or-v1-...b780"
      - "sk-or-v1-...b781"
    models: # The models supported by the provider.
      - name: "moonshotai/kimi-k2:free" # The actual model name.
        alias: "kimi-k2" # The alias used in the API.

"""

/// Parses and requires success.
func parseOK(_ text: String, home: String = "/home/tester", sourceLocation: SourceLocation = #_sourceLocation) throws -> (ProxyConfig, [ConfigDiagnostic]) {
    switch ProxyConfig.parse(text, file: "config.yaml", home: home) {
    case .success(let r): return r
    case .failure(let e):
        Issue.record("unexpected config error:\n\(e)", sourceLocation: sourceLocation)
        throw e
    }
}

/// Parses and requires failure.
func parseError(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> ConfigError {
    switch ProxyConfig.parse(text, file: "config.yaml", home: "/home/tester") {
    case .success(let (config, _)):
        Issue.record("expected an error, got a config:\n\(config)", sourceLocation: sourceLocation)
        throw ConfigError([ConfigDiagnostic(severity: .error, file: "-", line: nil, keyPath: nil, message: "no error")])
    case .failure(let e): return e
    }
}

@Suite struct ProxyConfigTests {
    @Test func seedReadmeExampleParses() throws {
        let (c, warnings) = try parseOK(seedExample)
        #expect(warnings.isEmpty)
        #expect(c.port == 8317)
        #expect(c.remoteManagement.allowRemote == false)
        #expect(c.remoteManagement.secretKey.isEmpty)
        #expect(c.authDir == "~/.cli-proxy-api")
        #expect(c.authDirPath == "/home/tester/.cli-proxy-api")
        #expect(c.debug == false)
        #expect(c.proxyURL == "")
        #expect(c.requestRetry == 3)
        #expect(c.quotaExceeded.switchProject == true)
        #expect(c.quotaExceeded.switchPreviewModel == true)
        #expect(c.apiKeys.map(\.revealed) == ["your-api-key-1", "your-api-key-2"])
        #expect(c.generativeLanguageAPIKeys.map(\.revealed) == ["AIzaSy...01", "AIzaSy...02", "AIzaSy...03", "AIzaSy...04"])
        #expect(c.claudeAPIKeys == [
            .init(apiKey: "sk-atSM...", baseURL: nil),
            .init(apiKey: "sk-atSM...", baseURL: "https://www.example.com"),
        ])
        #expect(c.openAICompatibility == [
            .init(name: "openrouter", baseURL: "https://openrouter.ai/api/v1",
                  apiKeys: ["sk-or-v1-...b780", "sk-or-v1-...b781"],
                  models: [.init(name: "moonshotai/kimi-k2:free", alias: "kimi-k2")]),
        ])
        // Our additions keep their defaults.
        #expect(c.host == nil)
        #expect(c.effectiveHost == "0.0.0.0")
        #expect(c.maxBodySize == 33_554_432)
        #expect(c.connectTimeout == .seconds(10))
        #expect(c.streamIdleTimeout == .seconds(120))
        #expect(c.upstreams.isEmpty)
        #expect(c.rulesDir == nil)
        #expect(c.requestLog == false)
        #expect(c.usageStatisticsEnabled == false)
    }

    @Test func repositoryConfigParsesWithoutWarnings() throws {
        // The config.yaml shipped at the repository root.
        let r = ProxyConfig.load(path: "config.yaml", home: "/h")
        let (c, warnings) = try r.get()
        #expect(warnings.isEmpty)
        #expect(c.port == 8317)
        #expect(c.requestRetry == 3)
        #expect(c.apiKeys.isEmpty)
        #expect(c.effectiveHost == "127.0.0.1")
    }

    @Test func dockerConfigListensEverywhereAndHasTheImagesRules() throws {
        // docker/config.yaml, copied into the image as /etc/cliproxy/config.yaml.
        let (c, warnings) = try ProxyConfig.load(path: "docker/config.yaml", home: "/root").get()
        #expect(warnings.isEmpty)
        #expect(c.effectiveHost == "0.0.0.0")
        #expect(c.apiKeys.isEmpty, "the user adds keys; --require-api-keys refuses to start until then")
        #expect(c.rulesDir == "/opt/cliproxy/Rules")
        #expect(c.authDirPath == "/data/auth")
    }

    @Test func shutdownGracePeriodIsADuration() throws {
        #expect(try parseOK("shutdown-grace-period: 5s\n").0.shutdownGracePeriod == .seconds(5))
        #expect(try parseOK("").0.shutdownGracePeriod == .seconds(30))
    }

    @Test(arguments: ["", "\n\n", "# just a comment\n# and another\n", "---\n", "~\n"])
    func emptyInputGivesDefaults(_ text: String) throws {
        let (c, warnings) = try parseOK(text)
        #expect(warnings.isEmpty)
        #expect(c == ProxyConfig(home: "/home/tester"))
        #expect(c.port == 8317)
        #expect(c.authDir == "~/.cli-proxy-api")
        #expect(c.authDirPath == "/home/tester/.cli-proxy-api")
        #expect(c.proxyURL == "")
        #expect(c.requestRetry == 0)
        #expect(c.remoteManagement == .init(allowRemote: false, secretKey: ""))
        #expect(c.quotaExceeded == .init(switchProject: true, switchPreviewModel: true))
        #expect(c.debug == false)
        #expect(c.apiKeys.isEmpty && c.generativeLanguageAPIKeys.isEmpty && c.claudeAPIKeys.isEmpty && c.openAICompatibility.isEmpty)
        #expect(c.host == nil && c.effectiveHost == "127.0.0.1")
        #expect(c.requestLog == false && c.usageStatisticsEnabled == false)
        #expect(c.rulesDir == nil)
        #expect(c.maxBodySize == 32 * 1024 * 1024)
        #expect(c.connectTimeout == .seconds(10))
        #expect(c.streamIdleTimeout == .seconds(120))
        #expect(c.upstreams.isEmpty)
    }

    @Test func nullValuesTakeDefaults() throws {
        let (c, _) = try parseOK("port:\nrequest-retry: ~\nquota-exceeded:\n  switch-project: null\napi-keys:\n")
        #expect(c.port == 8317)
        #expect(c.requestRetry == 0)
        #expect(c.quotaExceeded.switchProject == true)
        #expect(c.apiKeys.isEmpty)
    }

    @Test func allKeysParse() throws {
        let (c, warnings) = try parseOK("""
            port: 9000
            host: 192.168.1.5
            auth-dir: /var/lib/cliproxy
            proxy-url: socks5://user:pw@10.0.0.1:1080/
            request-retry: 2
            remote-management:
              allow-remote: yes
              secret-key: "$2a$10$abcdefghijklmnopqrstuv"
            quota-exceeded: {switch-project: off, switch-preview-model: false}
            debug: True
            request-log: true
            usage-statistics-enabled: true
            rules-dir: ~/rules
            max-body-size: "512KB"
            connect-timeout: 2.5
            stream-idle-timeout: "2m"
            upstreams:
              gemini:
                base-url: https://gemini.example/v1
              qwen:
                token-url: http://127.0.0.1:9999/token
                device-url: https://[::1]:8443/device
                auth-url: https://auth.example
            """)
        #expect(warnings.isEmpty)
        #expect(c.port == 9000)
        #expect(c.host == "192.168.1.5")
        #expect(c.effectiveHost == "192.168.1.5")
        #expect(c.authDir == "/var/lib/cliproxy" && c.authDirPath == "/var/lib/cliproxy")
        #expect(c.proxyURL == "socks5://user:pw@10.0.0.1:1080/")
        #expect(c.requestRetry == 2)
        #expect(c.remoteManagement.allowRemote == true)
        #expect(c.remoteManagement.secretKeyIsHashed)
        #expect(c.quotaExceeded == .init(switchProject: false, switchPreviewModel: false))
        #expect(c.debug == true)
        #expect(c.requestLog && c.usageStatisticsEnabled)
        #expect(c.rulesDir == "~/rules" && c.rulesDirPath == "/home/tester/rules")
        #expect(c.maxBodySize == 512 * 1024)
        #expect(c.connectTimeout == .milliseconds(2500))
        #expect(c.streamIdleTimeout == .seconds(120))
        #expect(c.upstreams == [
            "gemini": .init(baseURL: "https://gemini.example/v1"),
            "qwen": .init(authURL: "https://auth.example", tokenURL: "http://127.0.0.1:9999/token", deviceURL: "https://[::1]:8443/device"),
        ])
    }

    @Test(arguments: [
        ("33554432", 33_554_432), ("\"32MB\"", 33_554_432), ("32MB", 33_554_432), ("\"512KB\"", 524_288),
        ("\"1 GiB\"", 1 << 30), ("\"100b\"", 100), ("\"1024\"", 1024), ("4k", 4096),
    ])
    func sizes(_ yaml: String, _ bytes: Int) throws {
        let (c, _) = try parseOK("max-body-size: \(yaml)\n")
        #expect(c.maxBodySize == bytes)
    }

    @Test(arguments: [
        ("10", Duration.seconds(10)), ("0.25", .milliseconds(250)), ("\"500ms\"", .milliseconds(500)),
        ("30s", .seconds(30)), ("\"2m\"", .seconds(120)), ("\"1h\"", .seconds(3600)),
    ])
    func durations(_ yaml: String, _ expected: Duration) throws {
        let (c, _) = try parseOK("connect-timeout: \(yaml)\nstream-idle-timeout: \(yaml)\n")
        #expect(c.connectTimeout == expected)
        #expect(c.streamIdleTimeout == expected)
    }

    @Test func theErrorMessageNamesKeyFileAndLine() throws {
        let e = try parseError("# comment\ndebug: false\nport: abc\n")
        #expect(e.description == "config.yaml:3: `port` must be an integer between 1 and 65535, got \"abc\"")
        #expect(e.keyPath == "port")
        #expect(e.line == 3)
        #expect(e.file == "config.yaml")
    }

    /// (YAML, key path, line) — every one must fail, naming that key and line.
    static let typeErrors: [(String, String, Int)] = [
        ("port: abc", "port", 1),
        ("\nport: 70000", "port", 2),
        ("port: 0", "port", 1),
        ("port: \"8080\"", "port", 1),
        ("port: 8080.5", "port", 1),
        ("port: [1]", "port", 1),
        ("request-retry: -1", "request-retry", 1),
        ("request-retry: \"3\"", "request-retry", 1),
        ("debug: maybe", "debug", 1),
        ("debug: \"true\"", "debug", 1),
        ("request-log: 1", "request-log", 1),
        ("usage-statistics-enabled: {a: 1}", "usage-statistics-enabled", 1),
        ("auth-dir: [a, b]", "auth-dir", 1),
        ("proxy-url: ftp://example.com", "proxy-url", 1),
        ("proxy-url: not a url", "proxy-url", 1),
        ("remote-management: [1]", "remote-management", 1),
        ("remote-management:\n  allow-remote: 3", "remote-management.allow-remote", 2),
        ("remote-management:\n  secret-key: [x]", "remote-management.secret-key", 2),
        ("quota-exceeded:\n  switch-project: \"no\"", "quota-exceeded.switch-project", 2),
        ("quota-exceeded: true", "quota-exceeded", 1),
        ("api-keys: {a: b}", "api-keys", 1),
        ("api-keys: just-one", "api-keys", 1),
        ("api-keys:\n  - ok\n  - [nested]", "api-keys[1]", 3),
        ("generative-language-api-key: 5", "generative-language-api-key", 1),
        ("claude-api-key:\n  - base-url: https://x.example", "claude-api-key[0].api-key", 2),
        ("claude-api-key:\n  - api-key: k\n  - api-key: k2\n    base-url: not-a-url", "claude-api-key[1].base-url", 4),
        ("claude-api-key: {api-key: k}", "claude-api-key", 1),
        ("claude-api-key:\n  - just-a-string", "claude-api-key[0]", 2),
        ("openai-compatibility:\n  - base-url: https://x.example", "openai-compatibility[0].name", 2),
        ("openai-compatibility:\n  - name: a", "openai-compatibility[0].base-url", 2),
        ("openai-compatibility:\n  - name: a\n    base-url: example.com", "openai-compatibility[0].base-url", 3),
        ("openai-compatibility:\n  - name: a\n    base-url: https://x.example\n    api-keys: k", "openai-compatibility[0].api-keys", 4),
        ("openai-compatibility:\n  - name: a\n    base-url: https://x.example\n    models:\n      - alias: b", "openai-compatibility[0].models[0].name", 5),
        ("openai-compatibility:\n  - name: a\n    base-url: https://x.example\n    models: {name: b}", "openai-compatibility[0].models", 4),
        ("host: \"\"", "host", 1),
        ("host: [a]", "host", 1),
        ("rules-dir: {a: 1}", "rules-dir", 1),
        ("max-body-size: lots", "max-body-size", 1),
        ("max-body-size: -5", "max-body-size", 1),
        ("max-body-size: \"1.5MB\"", "max-body-size", 1),
        ("max-body-size: 99999999999GB", "max-body-size", 1),
        ("connect-timeout: 0", "connect-timeout", 1),
        ("connect-timeout: -3", "connect-timeout", 1),
        ("stream-idle-timeout: soon", "stream-idle-timeout", 1),
        ("stream-idle-timeout: 999999", "stream-idle-timeout", 1),
        ("upstreams: [gemini]", "upstreams", 1),
        ("upstreams:\n  gemini: https://x.example", "upstreams.gemini", 2),
        ("upstreams:\n  gemini:\n    base-url: nope", "upstreams.gemini.base-url", 3),
        ("upstreams:\n  codex:\n    token-url: https://exa mple.com", "upstreams.codex.token-url", 3),
    ]

    @Test(arguments: typeErrors)
    func typeErrorsNameKeyAndLine(_ yaml: String, _ keyPath: String, _ line: Int) throws {
        let e = try parseError(yaml + "\n")
        #expect(e.diagnostics.count == 1, "\(e)")
        #expect(e.keyPath == keyPath)
        #expect(e.line == line)
        #expect(e.first.severity == .error)
        #expect(e.description.hasPrefix("config.yaml:\(line): `\(keyPath)`"), "\(e)")
    }

    @Test func quotedNumbersAreStringsWhereStringsAreExpected() throws {
        let (c, _) = try parseOK("remote-management:\n  secret-key: \"12345\"\napi-keys: [\"0042\", 77]\nauth-dir: \"8080\"\n")
        #expect(c.remoteManagement.secretKey.revealed == "12345")
        #expect(c.apiKeys.map(\.revealed) == ["0042", "77"])
        #expect(c.authDir == "8080")
        let e = try parseError("port: \"8080\"\n")
        #expect(e.message == "`port` must be an integer between 1 and 65535, got \"8080\" (quoted, so a string)")
    }

    @Test func everyErrorIsReportedInSourceOrder() throws {
        let e = try parseError("debug: maybe\nport: x\nunknown: 1\nrequest-retry: -2\n")
        #expect(e.diagnostics.map(\.keyPath) == ["debug", "port", "request-retry"])
        #expect(e.diagnostics.map(\.line) == [1, 2, 4])
        #expect(e.description.split(separator: "\n").count == 3)
    }

    @Test func unknownKeysWarn() throws {
        let text = """
            port: 8317
            remote-management:
              allow-remote: false
              colour: blue
            claude-api-key:
              - api-key: k
                base_url: https://typo.example
            openai-compatibility:
              - name: a
                base-url: https://a.example
                models:
                  - {name: m, alias: x, weight: 2}
            foo: bar
            """
        let (c, warnings) = try parseOK(text)
        #expect(c.port == 8317)
        #expect(warnings.map(\.description) == [
            "unknown key `remote-management.colour` at config.yaml:4",
            "unknown key `claude-api-key[0].base_url` at config.yaml:7",
            "unknown key `openai-compatibility[0].models[0].weight` at config.yaml:12",
            "unknown key `foo` at config.yaml:13",
        ])
        #expect(warnings.allSatisfy { $0.severity == .warning })
        #expect(warnings.last?.keyPath == "foo")
        #expect(warnings.last?.message == "unknown key `foo`")
    }

    @Test func emptyListEntriesAreDroppedWithAWarning() throws {
        let (c, warnings) = try parseOK("api-keys:\n  - \"\"\n  - real\n  -\n")
        #expect(c.apiKeys.map(\.revealed) == ["real"])
        #expect(warnings.map(\.line) == [2, 4])
        #expect(warnings.map(\.keyPath) == ["api-keys[0]", "api-keys[2]"])
    }

    @Test func tildeExpansion() throws {
        #expect(ProxyConfig.expandTilde("~", home: "/home/u") == "/home/u")
        #expect(ProxyConfig.expandTilde("~/x/y", home: "/home/u/") == "/home/u/x/y")
        #expect(ProxyConfig.expandTilde("~/x", home: "/") == "/x")
        #expect(ProxyConfig.expandTilde("/abs/~/x", home: "/home/u") == "/abs/~/x")
        #expect(ProxyConfig.expandTilde("~other/x", home: "/home/u") == "~other/x")
        #expect(ProxyConfig.expandTilde("rel/dir", home: "/home/u") == "rel/dir")

        let (c, _) = try parseOK("auth-dir: ~/tokens\n", home: "/srv/me")
        #expect(c.authDir == "~/tokens")
        #expect(c.authDirPath == "/srv/me/tokens")

        // Without an explicit home, $HOME is used.
        if let h = getenv("HOME"), h.pointee != 0 {
            #expect(ProxyConfig.homeDirectory() == String(cString: h))
        }
        let (d, _) = try ProxyConfig.parse("auth-dir: \"~/.cli-proxy-api\"\n", file: "config.yaml").get()
        #expect(d.authDirPath == ProxyConfig.homeDirectory() + "/.cli-proxy-api")
        #expect(ProxyConfig().authDirPath == ProxyConfig.homeDirectory() + "/.cli-proxy-api")
    }

    @Test func anchorsAndMergeKeysInAConfig() throws {
        let text = """
            shared-keys: &keys
              - "sk-shared-1"
              - "sk-shared-2"
            provider-defaults: &pd
              base-url: https://llm.example/v1
              api-keys: *keys
            api-keys: *keys
            openai-compatibility:
              - <<: *pd
                name: one
              - <<: *pd
                name: two
                base-url: https://other.example/v1
                models: [{name: big, alias: b}]
            """
        let (c, warnings) = try parseOK(text)
        #expect(c.apiKeys.map(\.revealed) == ["sk-shared-1", "sk-shared-2"])
        #expect(c.openAICompatibility.map(\.name) == ["one", "two"])
        #expect(c.openAICompatibility.map(\.baseURL) == ["https://llm.example/v1", "https://other.example/v1"])
        #expect(c.openAICompatibility.allSatisfy { $0.apiKeys.map(\.revealed) == ["sk-shared-1", "sk-shared-2"] })
        #expect(c.openAICompatibility[1].models == [.init(name: "big", alias: "b")])
        // The anchor-holding keys are not settings: they warn, but the config loads.
        #expect(warnings.map(\.keyPath) == ["shared-keys", "provider-defaults"])
    }

    @Test func syntaxErrorReportsLineAndColumn() throws {
        let e = try parseError("port: 8317\napi-keys: [a, b\ndebug: true\n")
        #expect(e.line == 3)
        #expect(e.first.column == 6)
        #expect(e.keyPath == nil)
        #expect(e.description.hasPrefix("config.yaml:3:6: YAML syntax error: did not find expected ',' or ']'"))
        let dup = try parseError("port: 1\nport: 2\n")
        #expect(dup.description == "config.yaml:2:1: YAML syntax error: duplicate key `port` (first defined at line 1)")
    }

    @Test func aTopLevelThatIsNotAMappingIsAnError() throws {
        let e = try parseError("- port: 1\n")
        #expect(e.line == 1)
        #expect(e.message.contains("must be a mapping of settings"))
    }

    @Test func secretsAreMaskedEverywhere() throws {
        let secrets = [
            "client-key-0123456789abcdef", "AIzaSyD-gemini-secret-000111", "sk-ant-claude-secret-999888",
            "sk-or-v1-router-secret-777666", "management-secret-key-555444", "proxypass-333222", "tiny9",
        ]
        let text = """
            proxy-url: socks5://proxyuser:\(secrets[5])@10.0.0.1:1080/
            remote-management:
              secret-key: \(secrets[4])
            api-keys: [\(secrets[0]), \(secrets[6])]
            generative-language-api-key: [\(secrets[1])]
            claude-api-key:
              - api-key: \(secrets[2])
                base-url: https://tok:\(secrets[5])@claude.example
            openai-compatibility:
              - name: r
                base-url: https://router.example/v1
                api-keys: [\(secrets[3])]
            """
        let (c, _) = try parseOK(text)
        #expect(c.apiKeys[0].revealed == secrets[0])  // the value is there…

        var dumped = ""
        dump(c, to: &dumped)
        let printed = [
            c.description, "\(c)", String(reflecting: c), dumped,
            "\(c.apiKeys)", "\(c.claudeAPIKeys)", "\(c.openAICompatibility)", String(reflecting: c.apiKeys),
            "\(c.remoteManagement)", String(reflecting: c.remoteManagement.secretKey),
        ]
        for p in printed {
            for s in secrets { #expect(!p.contains(s), "secret \(s) printed in:\n\(p)") }
        }
        // …and the masked forms are what shows.
        #expect(c.description.contains("- \"****cdef\""))
        #expect(c.description.contains("- \"****\"\n"))  // `tiny9`: too short to show a tail
        #expect(c.description.contains("secret-key: \"****5444\""))
        #expect(c.description.contains("proxy-url: \"socks5://proxyuser:****@10.0.0.1:1080/\""))
        #expect(c.description.contains("base-url: \"https://tok:****@claude.example\""))
        // The masked description is itself valid YAML with the same shape.
        let reparsed = try YAMLDocument(parsing: c.description)
        #expect(reparsed.root?["remote-management"]?["secret-key"]?.string == "****5444")
        #expect(reparsed.root?["openai-compatibility"]?[0]?["name"]?.string == "r")
    }

    @Test func errorMessagesDoNotEchoSecrets() throws {
        let e = try parseError("proxy-url: ftp://me:hunter2-secret@host/\n")
        #expect(!e.description.contains("hunter2-secret"))
        #expect(e.description.contains("ftp://me:****@host/"))
        let e2 = try parseError("claude-api-key:\n  - api-key: [sk-in-a-list]\n")
        #expect(!e2.description.contains("sk-in-a-list"))
    }

    @Test func descriptionShowsEffectiveSettings() throws {
        let (c, _) = try parseOK("connect-timeout: 2.5\nmax-body-size: 1KB\n")
        let d = c.description
        #expect(d.contains("port: 8317\n"))
        #expect(d.contains("host: \"127.0.0.1\" # not set"))
        #expect(d.contains("connect-timeout: 2.5\n"))
        #expect(d.contains("stream-idle-timeout: 120\n"))
        #expect(d.contains("max-body-size: 1024\n"))
        #expect(d.contains("auth-dir: \"~/.cli-proxy-api\" # /home/tester/.cli-proxy-api\n"))
        // Every key of the file appears in the printout.
        let keys = try #require(YAMLDocument(parsing: d).root?.mapping).compactMap(\.key.string)
        #expect(Set(keys) == ConfigDecoder.topLevelKeys)
    }

    @Test func secretMaskingAndMatching() {
        #expect(Secret("").masked == "")
        #expect(Secret("abc").masked == "****")
        #expect(Secret("0123456789abcdef").masked == "****cdef")
        let s: Secret = "sk-abcdef"
        #expect(s.matches("sk-abcdef"))
        #expect(!s.matches("sk-abcdeg"))
        #expect(!s.matches("sk-abcde"))
        #expect(!s.matches("sk-abcdef0"))
        #expect(!s.matches(""))
        #expect(Secret.maskURL("https://host/path") == "https://host/path")
        #expect(Secret.maskURL("http://user@host:1/") == "http://****@host:1/")
        #expect(Secret.maskURL("socks5://u:p@h:1080") == "socks5://u:****@h:1080")
        #expect(Secret.maskURL("https://h/a@b") == "https://h/a@b")
    }

    @Test func effectiveHost() throws {
        #expect(try parseOK("").0.effectiveHost == "127.0.0.1")
        #expect(try parseOK("api-keys: [k]").0.effectiveHost == "0.0.0.0")
        #expect(try parseOK("api-keys: [k]\nhost: 127.0.0.1").0.effectiveHost == "127.0.0.1")
        #expect(try parseOK("host: \"::\"").0.effectiveHost == "::")
    }

    /// A new file under /tmp holding `text`; its path.
    static func temporaryFile(_ text: String) throws -> String {
        var template = Array("/tmp/proxyconfig-test-XXXXXX".utf8CString)
        let fd = mkstemp(&template)
        try #require(fd >= 0)
        _ = text.withCString { write(fd, $0, strlen($0)) }
        close(fd)
        return String(decoding: template.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    @Test func loadReadsAFileAndNamesItInMessages() throws {
        let path = try Self.temporaryFile("port: 1234\nfoo: 1\n")
        defer { unlink(path) }
        let (c, warnings) = try ProxyConfig.load(path: path, home: "/h").get()
        #expect(c.port == 1234)
        #expect(warnings.map(\.description) == ["unknown key `foo` at \(path):2"])

        let missing = ProxyConfig.load(path: "/nonexistent/dir/config.yaml")
        guard case .failure(let e) = missing else { Issue.record("expected failure"); return }
        #expect(e.line == nil)
        #expect(e.description == "/nonexistent/dir/config.yaml: cannot read the config file: No such file or directory")
    }

    /// A blank file is all defaults at start, and an error for a reload.
    @Test func aBlankFileIsRefusedOnlyWhenAsked() throws {
        let path = try Self.temporaryFile(" \n\n")
        defer { unlink(path) }
        #expect(try ProxyConfig.load(path: path).get().0.port == 8317)
        guard case .failure(let e) = ProxyConfig.load(path: path, refusingEmpty: true) else { Issue.record("expected failure"); return }
        #expect(e.description.contains("the file is empty"), "\(e)")
    }

    @Test func multipleDocumentsWarn() throws {
        let (c, warnings) = try parseOK("port: 1111\n---\nport: 2222\n")
        #expect(c.port == 1111)
        #expect(warnings.count == 1)
        #expect(warnings.first?.line == 3)
    }

    @Test func duplicateProviderNamesWarn() throws {
        let (c, warnings) = try parseOK("openai-compatibility:\n  - {name: a, base-url: http://x.example}\n  - {name: a, base-url: http://y.example}\n")
        #expect(c.openAICompatibility.count == 2)
        #expect(warnings.map(\.line) == [3])
    }
}
