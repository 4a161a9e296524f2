import ArgumentParser
import CLIProxyServer
import Logging
import ProxyConfig
import RuleEngine

@main
struct CLIProxy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cliproxy",
        abstract: "An LLM API proxy: any client dialect, any upstream, translated by jq rules.",
        version: CLIProxyInfo.version,
        subcommands: [Serve.self, RulesCommand.self],
        defaultSubcommand: Serve.self)
}

/// Starts the server (also what `cliproxy` without a subcommand does).
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Start the proxy server (the default command).")
    @Option(help: "The configuration file.") var config = "config.yaml"
    @Option(help: "The rules folder (default: rules-dir from the config, else Rules beside the config file).") var rules: String?

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = .info
            return h
        }
        let logger = Logger(label: "cliproxy")
        let health = CredentialHealth()
        let state: ServerState
        do {
            state = try await ServerState.load(configPath: config, rulesDir: rules, health: health, logger: logger)
        } catch {
            printErr("cliproxy cannot start:\n\(error)")
            throw ExitCode.failure
        }
        let server = CLIProxyServer(state: state, health: health, logger: logger, rulesOverride: rules)
        let credentials = state.router.credentials.count
        let app = server.application(onRunning: { port in
            logger.info("cliproxy \(CLIProxyInfo.version) listening on \(state.config.effectiveHost):\(port) — \(state.rules.dialects.count) dialects, \(credentials) credential(s), rules from \(state.rules.source.root)")
            if credentials == 0 {
                logger.notice("no credentials yet: add keys to \(config) (generative-language-api-key, claude-api-key, openai-compatibility) or run `cliproxy login …`")
            }
        })
        do {
            try await app.runService()
        } catch {
            printErr("cliproxy stopped: \(error)" + ("\(error)".contains("Address already in use") ? "\n(is another server on port \(state.config.port)? change `port` in \(config))" : ""))
            throw ExitCode.failure
        }
    }
}
