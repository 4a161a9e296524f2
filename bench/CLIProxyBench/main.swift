// Benchmarks of the translation engine (not timed tests): rule-set compile
// time, per-request translation of Claude-Code-like requests into every
// dialect, and per-event stream translation. Prints Markdown for
// docs/BENCHMARKS.md. Run: `make bench` (release build).
import RuleEngine
#if canImport(Glibc)
import Glibc
#endif

func median(_ xs: [Double]) -> Double { let s = xs.sorted(); return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2 }
func ms(_ ns: UInt64) -> Double { Double(ns) / 1e6 }
func fmt(_ x: Double, _ digits: Int = 1) -> String {
    var p = 1.0; for _ in 0..<digits { p *= 10 }
    let r = (x * p).rounded() / p
    return digits == 0 ? String(Int(r)) : String(r)
}

let args = CommandLine.arguments
let rulesDir = args.count > 1 ? args[1] : "Rules"
let inputs = args.count > 2 ? args[2] : "bench/inputs"
let rounds = 7
let ctx = TranslationContext(model: "bench-model", clientModel: "claude-sonnet-4-20250514", stream: true, requestID: "bench", created: 1782321921, idSeed: "b")

let breakdown = CommandLine.arguments.contains("--breakdown")
if !breakdown {
print("## Rule set compile (whole set, all dialects)\n")
print("Ready: `RuleSet.build` returned (every dialect compiled once, spread over the workers). Warm: every worker has compiled every dialect.\n")
print("| worker threads | ready, median ms | ready, min–max | warm, median ms |")
print("|---|---|---|---|")
for threads in [1, 2] {
    var ready: [Double] = [], warm: [Double] = []
    for _ in 0..<rounds {
        let t0 = Clock.nanoseconds()
        let set = try await RuleSet.build(root: rulesDir, threads: threads)
        ready.append(ms(Clock.nanoseconds() - t0))
        await set.waitUntilWarm()
        warm.append(ms(Clock.nanoseconds() - t0))
    }
    print("| \(threads) | \(fmt(median(ready))) | \(fmt(ready.min()!))–\(fmt(ready.max()!)) | \(fmt(median(warm))) |")
}

}
let set = try await RuleSet.build(root: rulesDir, threads: 2)
await set.waitUntilWarm()
if CommandLine.arguments.contains("--breakdown") {
    let body = FileSystem.readBytes(inputs + "/claude-60k.json")!
    for (label, client, upstream, op) in [("decode only (claude → IR, IR written out)", "claude", "claude", 0), ("claude → openai", "claude", "openai", 1), ("passthrough", "claude", "claude", 1)] {
        var perOp: [Double] = []
        for _ in 0..<rounds {
            let t0 = Clock.nanoseconds()
            for _ in 0..<100 {
                let ex = Exchange(ruleSet: set, client: client, upstream: upstream, context: ctx)
                if op == 0 { _ = try await ex.decodeRequest(body) } else { _ = try await ex.translateRequest(body) }
            }
            perOp.append(Double(Clock.nanoseconds() - t0) / 1e3 / 100)
        }
        print("breakdown: \(label): \(fmt(median(perOp))) µs")
    }
    exit(0)
}



print("\n## Request translation, Claude Code client → each upstream\n")
print("Per request: parse the client body, run decode | encode, write the upstream body; one request at a time; median of \(rounds) rounds.\n")
print("| input | → openai | → responses | → gemini | → claude (passthrough) |")
print("|---|---|---|---|---|")
for name in ["claude-2k.json", "claude-60k.json"] {
    guard let body = FileSystem.readBytes(inputs + "/" + name) else { fatalError("missing \(name); run bench/make_inputs.py") }
    let n = body.count > 10_000 ? 200 : 2000
    var cells: [String] = []
    for target in ["openai", "responses", "gemini", "claude"] {
        var perOp: [Double] = []
        for _ in 0..<rounds {
            let t0 = Clock.nanoseconds()
            for _ in 0..<n {
                let ex = Exchange(ruleSet: set, client: "claude", upstream: target, context: ctx)
                _ = try await ex.translateRequest(body)
            }
            perOp.append(Double(Clock.nanoseconds() - t0) / 1e3 / Double(n))
        }
        cells.append(fmt(median(perOp)) + " µs")
    }
    print("| \(name) (\(body.count) B) | " + cells.joined(separator: " | ") + " |")
}

print("\n## Stream translation, per upstream event\n")
print("A 1,000-delta answer plus a tool call with 200 argument fragments (bench/inputs/stream-*.sse), translated for each client dialect; µs per upstream event, median of \(rounds) rounds, with events handed over one at a time and in batches of 16.\n")
print("| upstream → client | events | batch 1 | batch 16 |")
print("|---|---|---|---|")
for up in ["claude", "openai", "responses", "gemini"] {
    guard let raw = FileSystem.readBytes(inputs + "/stream-\(up).sse") else { fatalError("missing stream-\(up).sse") }
    var p = SSEParser()
    let events = p.feed(raw) + p.finish()
    for client in ["openai", "responses", "claude", "gemini"] where client != up {
        var cells: [String] = []
        for batch in [1, 16] {
            var perEvent: [Double] = []
            for _ in 0..<rounds {
                let ex = Exchange(ruleSet: set, client: client, upstream: up, context: ctx)
                let t = ex.streamTranslator()
                let t0 = Clock.nanoseconds()
                var i = 0
                var bytes = 0
                while i < events.count {
                    let j = min(events.count, i + batch)
                    bytes += try await t.translate(Array(events[i..<j])).count
                    i = j
                }
                bytes += try await t.finish().count
                perEvent.append(Double(Clock.nanoseconds() - t0) / 1e3 / Double(events.count))
                precondition(bytes > 0)
            }
            cells.append(fmt(median(perEvent)))
        }
        print("| \(up) → \(client) | \(events.count) | \(cells[0]) | \(cells[1]) |")
    }
}
