import Testing
import CMalloc
#if canImport(Glibc)
import Glibc
#endif
@testable import RuleEngine

/// Leak checks without valgrind (valgrind 3.19 crashes on Swift 6.3
/// binaries here): malloc's in-use bytes after warm-up must not grow with the
/// number of translations; one leaked `jv` per call grows them by megabytes.
/// Other suites allocate in the same process, so `make test` runs this suite
/// in a process of its own (`swift test --filter MemoryTests`).
@Suite struct MemoryTests {
    static func inUse() -> Int { Int(mallinfo2().uordblks) }

    @Test func translationsDoNotLeak() async throws {
        let set = try await TestRules().build(threads: 2)
        func round(_ n: Int) async throws {
            for i in 0..<n {
                let ex = Exchange(ruleSet: set, client: "alpha", upstream: "beta", context: TestRules.context(stream: true))
                _ = try await ex.translateRequest(#"{"t":"message number \#(i) with some text"}"#.bytes)
                _ = try await ex.translateResponse(#"{"content":"answer \#(i)"}"#.bytes)
                _ = try? await ex.translateRequest(#"{"m":"no t"}"#.bytes)  // an error path too
                _ = try await ex.translateError(status: 500, body: #"{"error":"x"}"#.bytes)
                let t = ex.streamTranslator()
                _ = try await t.translate([SSEEvent(name: "delta", data: #"{"c":"x\#(i)"}"#.bytes), SSEEvent(name: "stop", data: "{}".bytes)])
                _ = try await t.finish()
                // the server's path for a translated request: parsed on first need by encodeUpstream
                let fresh = Exchange(ruleSet: set, client: "alpha", upstream: "beta", context: TestRules.context(stream: false))
                _ = try await fresh.encodeUpstream(from: #"{"t":"message number \#(i) parsed by encodeUpstream"}"#.bytes)
            }
            await set.waitUntilWarm()  // lets the workers release what the exchanges left behind
        }
        try await round(500)
        let before = Self.inUse()
        try await round(3000)
        let after = Self.inUse()
        #expect(after - before < 200_000, "in-use bytes grew by \(after - before) over 3,000 exchanges")
    }
}
