import ArgumentParser
import RuleEngine
#if canImport(Glibc)
import Glibc
#endif

/// `cliproxy rules …`: the rule author's tools.
struct RulesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rules",
        abstract: "Check, test and run the translation rules.",
        subcommands: [Test.self, Check.self, Translate.self, List.self])

    struct Location: ParsableArguments {
        @Option(help: "The rules folder.") var rules = "Rules"
        @Option(help: "The fixtures folder.") var fixtures = "Fixtures"
    }

    static func build(_ rules: String, threads: Int? = nil) async throws -> RuleSet {
        do { return try await RuleSet.build(root: rules, threads: threads) } catch {
            printErr("rules do not compile:\n\(error)")
            throw ExitCode.failure
        }
    }

    struct Test: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run the golden fixtures of every dialect pair.")
        @OptionGroup var location: Location
        @Option(help: "Only PAIR or PAIR/CASE, e.g. claude-gemini or claude-gemini/tools.") var filter: String?
        @Flag(help: "Rewrite the expected files from the current rules instead of comparing.") var update = false
        @Flag(help: "No colours.") var plain = false
        @Option(help: "Also write every IR the decoders produce into this folder (for scripts/ir_check.py).") var emitIr: String?

        func run() async throws {
            let set = try await RulesCommand.build(location.rules)
            let suite: FixtureSuite
            do { suite = try FixtureSuite(root: location.fixtures) } catch { printErr("\(error)"); throw ExitCode.failure }
            let cases = suite.cases(filter: filter)
            if cases.isEmpty { printErr("no fixture cases match \(filter ?? "*")"); throw ExitCode.failure }
            let color = !plain && isatty(1) != 0
            let red = color ? "\u{1B}[31m" : "", green = color ? "\u{1B}[32m" : "", bold = color ? "\u{1B}[1m" : "", reset = color ? "\u{1B}[0m" : ""
            // Run cases concurrently, as many as there are workers; report in order.
            let outcomes: [FixtureOutcome] = await withTaskGroup(of: (Int, FixtureOutcome).self) { group in
                var results = [FixtureOutcome?](repeating: nil, count: cases.count)
                var next = 0
                let width = max(2, set.workerCount * 2)
                while next < min(width, cases.count) {
                    let i = next; group.addTask { (i, await suite.run(cases[i], ruleSet: set, update: update, emitIR: emitIr)) }; next += 1
                }
                for await (i, o) in group {
                    results[i] = o
                    if next < cases.count { let j = next; group.addTask { (j, await suite.run(cases[j], ruleSet: set, update: update, emitIR: emitIr)) }; next += 1 }
                }
                return results.map { $0! }
            }
            var passed = 0, failed = 0
            for o in outcomes {
                if update, !o.updated.isEmpty { print("updated \(o.fixture.id): \(o.updated.joined(separator: ", "))") }
                if o.passed { passed += 1; continue }
                failed += 1
                for f in o.failures {
                    print("\(bold)\(red)FAIL\(reset)\(bold) \(o.fixture.id) \(f.file)\(reset)")
                    for line in f.detail {
                        let c = line.hasPrefix("-") ? red : line.hasPrefix("+") ? green : ""
                        print("\(c)\(line)\(c.isEmpty ? "" : reset)")
                    }
                }
            }
            print("\(passed) passed, \(failed) failed")
            if failed > 0 { throw ExitCode.failure }
        }
    }

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Compile every rule and report errors with file and line.")
        @OptionGroup var location: Location
        @Flag(help: "Also compile each program alone and print its compile time (what a reload that changes its files costs).")
        var timings = false
        func run() async throws {
            let set = try await RulesCommand.build(location.rules, threads: 1)
            print("ok: \(set.dialects.count) dialects (\(set.dialects.joined(separator: ", "))), \(set.source.files.count) rule files, compiled in \(Int(set.buildMilliseconds)) ms")
            if timings {
                for (name, ms) in set.compileTimes() { print("  \(name): \(String(format: "%.0f", ms)) ms") }
            }
        }
    }

    struct Translate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Translate one body from stdin (or FILE) and print the result.",
            discussion: "Kinds: request (client body → upstream body), ir (client body → IR), response (upstream body → client body), stream (upstream SSE → client SSE), collect (upstream SSE → one client reply), error (upstream error body → client error reply; see --status).")
        @OptionGroup var location: Location
        @Option(help: "The client's dialect.") var from: String
        @Option(help: "The upstream's dialect.") var to: String
        @Option(help: "request, ir, response, stream, collect or error.") var kind: String = "request"
        @Option(help: "Upstream model for $ctx.model.") var model = "model"
        @Option(help: "Client model for $ctx.client_model (Gemini clients name it in the URL).") var clientModel: String?
        @Option(help: "Upstream HTTP status, for --kind error.") var status = 500
        @Option(help: "The client's request, for response/stream/error rules that consult it.") var request: String?
        @Argument(help: "Input file (default: stdin).") var file: String?

        func run() async throws {
            let set = try await RulesCommand.build(location.rules, threads: 1)
            for d in [from, to] where !set.hasDialect(d) {
                printErr("unknown dialect \(d); have: \(set.dialects.joined(separator: ", "))"); throw ExitCode.failure
            }
            guard let input = FileSystem.readBytes(file ?? "/dev/stdin") else { printErr("cannot read \(file ?? "stdin")"); throw ExitCode.failure }
            let ctx = TranslationContext(model: model, clientModel: clientModel, stream: kind == "stream",
                                         requestID: "cli", created: Clock.unixSeconds(), idSeed: "cli")
            let ex = Exchange(ruleSet: set, client: from, upstream: to, context: ctx)
            do {
                if let request, let body = FileSystem.readBytes(request) { _ = try await ex.decodeRequest(body) }
                var events: [SSEEvent] { var p = SSEParser(); return p.feed(input) + p.finish() }
                switch kind {
                case "request": writeOut(try await ex.translateRequest(input) + [0x0A])
                case "ir": writeOut(try await Exchange(ruleSet: set, client: from, upstream: from, context: ctx).decodeRequest(input) + [0x0A])
                case "response": writeOut(try await ex.translateResponse(input) + [0x0A])
                case "error":
                    let r = try await ex.translateError(status: status, body: input)
                    print("HTTP \(r.status) \(r.headers.map { "\($0.0): \($0.1)" }.joined(separator: "; "))")
                    writeOut(r.body + [0x0A])
                case "collect":
                    let r = try await ex.collect(events)
                    print("HTTP \(r.status)")
                    writeOut(r.body + [0x0A])
                case "stream":
                    let t = ex.streamTranslator()
                    writeOut(try await t.translate(events) + t.finish())
                default: printErr("unknown kind \(kind)"); throw ExitCode.failure
                }
            } catch let e as ExitCode { throw e } catch {
                printErr("\(error)")
                throw ExitCode.failure
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show dialects, pairs and fixture counts.")
        @OptionGroup var location: Location
        func run() async throws {
            let set = try await RulesCommand.build(location.rules, threads: 1)
            let suite = try? FixtureSuite(root: location.fixtures)
            print("dialects: \(set.dialects.joined(separator: ", "))")
            print("pairs (client → upstream): fixture cases")
            for c in set.dialects {
                for u in set.dialects {
                    let n = suite?.cases(filter: "\(c)-\(u)").count ?? 0
                    print("  \(c) → \(u)\(c == u ? " (passthrough)" : ""): \(n)")
                }
            }
            // Provider patches (Rules/providers/<patch>.jq) and their fixture folders.
            let patches = set.source.patches.keys.sorted().compactMap { FixtureSuite.patchTarget($0, in: set.source) }
            if !patches.isEmpty {
                print("provider patches (client → patch, upstream dialect): fixture cases")
                for t in patches {
                    for c in set.dialects {
                        let n = suite?.cases(filter: "\(c)-\(t.patch)").count ?? 0
                        print("  \(c) → \(t.patch) (providers/\(t.provider).json, \(t.dialect)): \(n)")
                    }
                }
            }
        }
    }
}

func printErr(_ s: String) { writeFD(2, Array((s + "\n").utf8)) }

func writeOut(_ bytes: [UInt8]) { writeFD(1, bytes) }

/// Writes all bytes to a file descriptor (POSIX write; no Foundation, no shared FILE*).
func writeFD(_ fd: Int32, _ bytes: [UInt8]) {
    bytes.withUnsafeBytes { raw in
        var off = 0
        while off < raw.count {
            let n = Glibc.write(fd, raw.baseAddress! + off, raw.count - off)
            if n <= 0 { return }
            off += n
        }
    }
}
