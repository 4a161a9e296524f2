import ArgumentParser
import CLIProxyServer
import Logging
import ProxyConfig
import RuleEngine
import UpstreamTransport
#if canImport(Glibc)
import Glibc
#endif

@main
struct CLIProxy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cliproxy",
        abstract: "An LLM API proxy: any client dialect, any upstream, translated by jq rules.",
        version: CLIProxyInfo.version,
        subcommands: [Serve.self, LoginCommand.self, RulesCommand.self],
        defaultSubcommand: Serve.self)
}

/// Starts the server (also what `cliproxy` without a subcommand does).
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Start the proxy server (the default command).")
    @Option(help: "The configuration file.") var config = "config.yaml"
    @Option(help: "The rules folder (default: rules-dir from the config, else Rules beside the config file).") var rules: String?

    // The login flags users of the existing product type (`cliproxy --login`);
    // `cliproxy login <provider>` does the same.
    @Flag(help: "Sign a Gemini CLI (Google) account in instead of serving.") var login = false
    @Flag(help: "Sign an OpenAI Codex (ChatGPT) account in instead of serving.") var codexLogin = false
    @Flag(help: "Sign a Claude Code account in instead of serving.") var claudeLogin = false
    @Flag(help: "Sign a Qwen Code account in instead of serving.") var qwenLogin = false
    @OptionGroup var loginFlags: LoginFlags
    @Flag(help: "Refuse to start without api-keys in the config (the Docker image sets it: a container listens beyond loopback).")
    var requireApiKeys = false

    func run() async throws {
        let logins: [LoginCommand.Provider] = [login ? .gemini : nil, codexLogin ? .codex : nil, claudeLogin ? .claude : nil, qwenLogin ? .qwen : nil].compactMap { $0 }
        if logins.count > 1 { printErr("choose one of --login, --codex-login, --claude-login, --qwen-login"); throw ExitCode.validationFailure }
        if let provider = logins.first {
            try await LoginCommand.login(provider, config: config, rules: rules, flags: loginFlags)
            return
        }
        // The level follows the config's `debug` (see LogLevelSwitch), reloads included.
        LoggingSystem.bootstrap { label in SwitchableLogHandler(StreamLogHandler.standardError(label: label)) }
        let logger = Logger(label: "cliproxy")
        raiseOpenFileLimit()
        let health = CredentialHealth()
        let transport = UpstreamTransport()
        let state: ServerState
        do {
            state = try await ServerState.load(configPath: config, rulesDir: rules, health: health, logger: logger, transport: transport)
        } catch {
            printErr("cliproxy cannot start:\n\(error)")
            throw ExitCode.failure
        }
        if requireApiKeys && state.config.apiKeys.isEmpty {
            printErr("cliproxy will not start: --require-api-keys is set and \(config) has no api-keys.\nAdd at least one long random key under `api-keys:` (clients send it as Authorization: Bearer <key>).")
            throw ExitCode.failure
        }
        let server = CLIProxyServer(state: state, health: health, logger: logger, rulesOverride: rules, transport: transport)
        let credentials = state.router.credentials.count
        let app = server.application(onRunning: { port in
            logger.info("cliproxy \(CLIProxyInfo.version) listening on \(state.config.effectiveHost):\(port) — \(state.rules.dialects.count) dialects, \(credentials) credential(s), rules from \(state.rules.source.root)")
            if credentials == 0 {
                logger.notice("no credentials yet: add keys to \(config) (generative-language-api-key, claude-api-key, openai-compatibility) or sign an account in with `cliproxy login gemini|codex|claude|qwen`")
            }
        })
        do {
            try await server.serve(app)
        } catch {
            printErr("cliproxy stopped: \(error)" + ("\(error)".contains("Address already in use") ? "\n(is another server on port \(state.config.port)? change `port` in \(config))" : ""))
            throw ExitCode.failure
        }
    }
}

/// Each open stream holds two descriptors (client and upstream): lift the
/// soft limit on open files to the hard one (often 1024 → 524288), so a
/// thousand concurrent streams do not run out.
func raiseOpenFileLimit() {
    var limit = rlimit()
    let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    guard getrlimit(resource, &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
    limit.rlim_cur = limit.rlim_max
    _ = setrlimit(resource, &limit)
}
