import Accounts
import ArgumentParser
import CLIProxyServer
import ProxyConfig
import RuleEngine
import UpstreamTransport

/// Options every login shares, as users of the existing product type them.
struct LoginFlags: ParsableArguments {
    @Flag(help: "Print the sign-in URL instead of opening a browser (paste the redirected URL back here if the callback cannot reach this machine).")
    var noBrowser = false
    @Option(name: [.customLong("callback-port"), .customLong("oauth-callback-port")],
            help: "The local port for the sign-in callback (default: 8085 Gemini, 1455 Codex, 54545 Claude).")
    var callbackPort: Int?
    @Option(name: .customLong("callback-host"),
            help: "The address the sign-in callback listens on (default 127.0.0.1; 0.0.0.0 in a container with the port published).")
    var callbackHost = "127.0.0.1"
    @Option(name: .customLong("project_id"), help: "Gemini: the Google Cloud project to use (when the account has several or none).")
    var projectID: String?
}

/// `cliproxy login gemini|codex|claude|qwen`: signs an account in and writes
/// its credential file into `auth-dir`; a running server picks it up at once.
struct LoginCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "login",
        abstract: "Sign a Gemini CLI, Codex, Claude Code or Qwen Code account in.",
        discussion: "The credential file goes into auth-dir from the config (default ~/.cli-proxy-api).")

    enum Provider: String, ExpressibleByArgument, CaseIterable { case gemini, codex, claude, qwen }

    @Argument(help: "gemini, codex, claude or qwen") var provider: Provider
    @Option(help: "The configuration file.") var config = "config.yaml"
    @Option(help: "The rules folder (for the providers' sign-in settings).") var rules: String?
    @OptionGroup var flags: LoginFlags

    func run() async throws {
        try await Self.login(provider, config: config, rules: rules, flags: flags)
    }

    /// Runs one login; shared with the legacy `--login`-style flags.
    static func login(_ provider: Provider, config path: String, rules: String?, flags: LoginFlags) async throws {
        // A missing config file is fine for a login: defaults apply.
        let config: ProxyConfig
        if FileSystem.exists(path) {
            switch ProxyConfig.load(path: path) {
            case .success(let (c, _)): config = c
            case .failure(let e): printErr("cannot read \(path):\n\(e)"); throw ExitCode.failure
            }
        } else {
            config = ProxyConfig()
        }
        let root = ServerState.rulesDirectory(explicit: rules, config: config, configPath: path)
        var files: [String: String] = [:]
        for name in FileSystem.list(root + "/providers") where name.hasSuffix(".json") {
            files["providers/" + name] = FileSystem.readText(root + "/providers/" + name)
        }
        let catalog: ProviderCatalog
        do { catalog = try ProviderCatalog.load(rulesRoot: root, files: files) } catch {
            printErr("cannot read the provider files in \(root)/providers:\n\(error)"); throw ExitCode.failure
        }
        let kind = AccountKind(rawValue: provider.rawValue)!, id = kind.provider
        guard let spec = ServerState.oauthSpecs(catalog: catalog, config: config)[id] else {
            printErr("\(root)/providers/\(id).json has no oauth section: this build's rules cannot sign \(provider.rawValue) accounts in")
            throw ExitCode.failure
        }
        let transport = UpstreamTransport()
        defer { transport.shutdown() }
        let directory = AuthDirectory(path: config.authDirPath)
        let loginOptions = LoginOptions(noBrowser: flags.noBrowser, callbackPort: flags.callbackPort, callbackHost: flags.callbackHost,
                                        projectID: flags.projectID)
        do {
            _ = try await Login.run(kind, spec: spec, directory: directory, transport: transport,
                                    transportOptions: Login.transportOptions(proxyURL: config.proxyURL), options: loginOptions,
                                    console: TerminalConsole(), browser: SystemBrowser())
        } catch {
            printErr("login failed: \(error)")
            throw ExitCode.failure
        }
    }
}
