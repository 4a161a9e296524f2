import ArgumentParser
import RuleEngine

@main
struct CLIProxy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cliproxy",
        abstract: "An LLM API proxy: any client dialect, any upstream, translated by jq rules.",
        version: CLIProxyVersion.string,
        subcommands: [RulesCommand.self])
}
