import ArgumentParser
import RuleEngine

@main
struct CLIProxy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cliproxy",
        abstract: "An LLM API proxy: any client dialect, any upstream, translated by jq rules.",
        version: CLIProxyVersion.string,
        subcommands: [Serve.self, RulesCommand.self],
        defaultSubcommand: Serve.self)
}

/// Starts cliproxy. The HTTP server arrives with issue #3; until then this
/// loads the configuration's rules and reports what it would serve.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Start cliproxy (default).")
    @Option(help: "The configuration file.") var config = "config.yaml"
    @Option(help: "The rules folder.") var rules = "Rules"

    func run() async throws {
        guard FileSystem.exists(config) else { printErr("config file not found: \(config)"); throw ExitCode.failure }
        let set = try await RulesCommand.build(rules)
        print("cliproxy \(CLIProxyVersion.string): rules ready — \(set.dialects.count) dialects (\(set.dialects.joined(separator: ", "))) on \(set.workerCount) worker threads, built in \(Int(set.buildMilliseconds)) ms")
        print("the HTTP server is not built yet (issue #3): nothing to serve")
    }
}
