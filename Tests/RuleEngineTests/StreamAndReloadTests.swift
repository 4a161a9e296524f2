import Testing
import CJQ
#if canImport(Glibc)
import Glibc
#endif
@testable import RuleEngine

@Suite struct StreamTests {
    @Test func sseParserHandlesSplitsCRLFAndComments() {
        let wire = "event: delta\r\ndata: {\"c\":\"a\"}\r\n\r\n: keep-alive\n\ndata: line1\ndata: line2\n\nid: 7\ndata: [DONE]\n\n"
        let bytes = wire.bytes
        // Every split point gives the same events.
        var reference: [SSEEvent]? = nil
        for cut in 0...bytes.count {
            var p = SSEParser()
            let events = p.feed(bytes[0..<cut]) + p.feed(bytes[cut...]) + p.finish()
            if let r = reference { #expect(events == r, "split at \(cut)") } else { reference = events }
        }
        #expect(reference == [
            SSEEvent(name: "delta", data: #"{"c":"a"}"#.bytes),
            SSEEvent(name: nil, data: "line1\nline2".bytes),
            SSEEvent(name: nil, data: "[DONE]".bytes),
        ])
    }

    @Test func truncatedFinalEventIsDropped() {
        var p = SSEParser()
        let events = p.feed("data: {\"a\":1}\n\ndata: {\"a\":".bytes) + p.finish()
        #expect(events.count == 1)
    }

    @Test func foldKeepsStateAndFlushesAtTheEnd() async throws {
        let set = try await TestRules().build()
        let ex = Exchange(ruleSet: set, client: "alpha", upstream: "beta", context: TestRules.context(stream: true))
        let events = [SSEEvent(name: "delta", data: #"{"c":"x"}"#.bytes), SSEEvent(name: "delta", data: #"{"c":"y"}"#.bytes), SSEEvent(name: "stop", data: "{}".bytes)]
        let t = ex.streamTranslator()
        var out = try await t.translate(Array(events[0..<2]))
        out += try await t.translate([events[2]])
        out += try await t.finish()
        #expect(out.text == "data: {\"d\":\"x\"}\n\ndata: {\"d\":\"y\"}\n\ndata: END\n\n")
        // The same stream one event at a time gives the same bytes.
        let t2 = ex.streamTranslator()
        var out2: [UInt8] = []
        for e in events { out2 += try await t2.translate([e]) }
        out2 += try await t2.finish()
        #expect(out2 == out)
    }

    @Test func streamWithoutTerminatorEndsInTheDialectsError() async throws {
        let set = try await TestRules().build()
        let ex = Exchange(ruleSet: set, client: "alpha", upstream: "beta", context: TestRules.context(stream: true))
        let t = ex.streamTranslator()
        var out = try await t.translate([SSEEvent(name: "delta", data: #"{"c":"x"}"#.bytes)])
        out += try await t.finish()
        #expect(out.text == "data: {\"d\":\"x\"}\n\nevent: error\ndata: {\"error\":\"broken\"}\n\n")
    }

    @Test func manyConcurrentStreamsKeepTheirOwnState() async throws {
        let set = try await TestRules().build(threads: 2)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<100 {
                group.addTask {
                    let ex = Exchange(ruleSet: set, client: "alpha", upstream: "beta", context: TestRules.context(stream: true))
                    let t = ex.streamTranslator()
                    var out: [UInt8] = []
                    for k in 0..<20 { out += try await t.translate([SSEEvent(name: "delta", data: #"{"c":"\#(i)-\#(k)"}"#.bytes)]) }
                    out += try await t.translate([SSEEvent(name: "stop", data: "{}".bytes)])
                    out += try await t.finish()
                    let expected = (0..<20).map { "data: {\"d\":\"\(i)-\($0)\"}\n\n" }.joined() + "data: END\n\n"
                    #expect(out.text == expected)
                }
            }
            try await group.waitForAll()
        }
    }
}

@Suite struct ReloadTests {
    @Test func failedRebuildKeepsTheCurrentSet() async throws {
        let rules = TestRules()
        let store = RuleSetStore(try await rules.build())
        let first = store.ruleSet
        rules.write("beta/request.jq", "def decode($ctx): {;\n")
        let err = await store.reload()
        #expect(err != nil)
        #expect(store.ruleSet === first)
        // the kept set still translates
        let ex = Exchange(ruleSet: store.ruleSet, client: "alpha", upstream: "beta", context: TestRules.context())
        #expect(try await ex.translateRequest(#"{"t":"a"}"#.bytes).text == #"{"model":"up-model","content":"A"}"#)
        // a good edit is picked up
        rules.write("beta/request.jq", """
        def decode($ctx): {model: .model, text: .content};
        def encode($ctx): {model: $ctx.model, content: .text, v: 2};
        def passthrough($ctx): .;
        """)
        #expect(await store.reload() == nil)
        #expect(store.ruleSet !== first)
        let ex2 = Exchange(ruleSet: store.ruleSet, client: "alpha", upstream: "beta", context: TestRules.context())
        #expect(try await ex2.translateRequest(#"{"t":"a"}"#.bytes).text == #"{"model":"up-model","content":"a","v":2}"#)
        // an exchange started on the old set finishes on it
        #expect(try await ex.translateRequest(#"{"t":"b"}"#.bytes).text == #"{"model":"up-model","content":"B"}"#)
    }

    /// Regression: workers compile some dialects after the set is built, and
    /// libjq reads imported modules from disk; a file edited meanwhile leaked
    /// into a set validated without it. Compiles now read the set's snapshot.
    @Test func aBuiltSetIgnoresLaterEditsOnDisk() async throws {
        let rules = TestRules()
        let set = try await rules.build(threads: 1)
        rules.write("beta/request.jq", "def decode($ctx): {;\n")
        rules.write("lib/util.jq", "def shout: error(\"edited\");\n")
        let late = ProgramCache()
        for key in set.keys.all { try late.retain(key, of: set.keys) }
        #expect(late.count == set.keys.all.count)
        let ex = Exchange(ruleSet: set, client: "alpha", upstream: "beta", context: TestRules.context())
        #expect(try await ex.translateRequest(#"{"t":"x"}"#.bytes).text == #"{"model":"up-model","content":"X"}"#)
    }

    /// A reload compiles only the programs whose files changed and shares the
    /// others' programs with the running set, on the same threads; programs
    /// are freed with the last set using them, and a broken reload changes
    /// nothing.
    @Test func reloadsCompileOnlyWhatChangedAndFreeWhatNoSetUses() async throws {
        let rules = TestRules()
        let store = RuleSetStore(try await rules.build(threads: 2))
        var first: RuleSet? = store.ruleSet
        #expect(Set(first!.compiledPrograms) == Set(first!.keys.all.map { first!.keys.units[$0]!.name }))
        func cached(_ set: RuleSet) async -> [Int] {
            var out: [Int] = []
            for t in set.pool.threads { out.append((try? await t.perform { $0.count }) ?? -1) }
            return out
        }
        await first!.waitUntilWarm()
        let programs = first!.keys.all.count
        #expect(programs == 7, "alpha and beta: request, response+error, stream; one estimate for both")
        #expect(await cached(first!) == [programs, programs])

        let old = Exchange(ruleSet: first!, client: "alpha", upstream: "beta", context: TestRules.context())
        rules.write("beta/request.jq", """
        def decode($ctx): {text: .content};
        def encode($ctx): {model: $ctx.model, content: .text, v: 3};
        def passthrough($ctx): .;
        """)
        #expect(await store.reload() == nil)
        let second = store.ruleSet
        #expect(second.compiledPrograms == ["beta/request"], "\(second.compiledPrograms)")
        #expect(second.pool === first!.pool, "the same threads")
        await second.waitUntilWarm()
        #expect(await cached(second) == [programs + 1, programs + 1], "old and new beta/request, the rest shared")
        let fresh = Exchange(ruleSet: second, client: "alpha", upstream: "beta", context: TestRules.context())
        #expect(try await fresh.translateRequest(#"{"t":"a"}"#.bytes).text.contains("\"v\":3"))
        #expect(try await old.translateRequest(#"{"t":"b"}"#.bytes).text == #"{"model":"up-model","content":"B"}"#)

        // A broken version: refused, nothing retained or freed.
        rules.write("beta/request.jq", "def decode($ctx): {;\n")
        #expect(await store.reload() != nil)
        #expect(store.ruleSet === second)
        await second.waitUntilWarm()
        #expect(await cached(second) == [programs + 1, programs + 1])

        // The old set goes (its last exchange too): its beta/request program is freed, the rest stays.
        first = nil
        _ = consume old
        var counts: [Int] = []
        for _ in 0..<200 {
            counts = await cached(second)
            if counts == [programs, programs] { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(counts == [programs, programs])
        #expect(try await fresh.translateRequest(#"{"t":"c"}"#.bytes).text.contains("\"v\":3"))
    }

    /// Modules that import one another compile as one program; the others
    /// alone, so an edit recompiles only the program holding the file.
    @Test func programsGroupModulesThatImportEachOther() async throws {
        let rules = TestRules(overrides: [
            "beta/count.jq": """
            import "beta/request" as req;
            def decode_request($ctx): req::decode($ctx);
            def encode($ctx): {content: .text};
            def decode($ctx): {input_tokens: .n};
            def encode_reply($ctx): {n: .input_tokens};
            """,
        ])
        let store = RuleSetStore(try await rules.build(threads: 1))
        let names = Set(store.ruleSet.keys.all.map { store.ruleSet.keys.units[$0]!.name })
        #expect(names == ["alpha/request", "alpha/response+error", "alpha/stream", "beta/request+count", "beta/response+error", "beta/stream", "lib/estimate"],
                "\(names.sorted())")
        rules.write("beta/response.jq", "def decode($ctx): {text: .content};\ndef encode($ctx): {content: .text, v: 2};\n")
        #expect(await store.reload() == nil)
        #expect(store.ruleSet.compiledPrograms == ["beta/response+error"], "\(store.ruleSet.compiledPrograms)")
        rules.write("lib/util.jq", "def shout: ascii_downcase;\n")
        #expect(await store.reload() == nil)
        #expect(Set(store.ruleSet.compiledPrograms) == ["alpha/request", "beta/request+count"], "\(store.ruleSet.compiledPrograms)")
        let ex = Exchange(ruleSet: store.ruleSet, client: "alpha", upstream: "beta", context: TestRules.context())
        #expect(try await ex.translateRequest(#"{"t":"AbC"}"#.bytes).text == #"{"model":"up-model","content":"abc"}"#)
    }

    /// Regression: a program's key covered its own dialect's folder, `lib/`
    /// and `providers/`, so a module importing another dialect's file
    /// (`responses/models` imports `openai/models`) kept its old program when
    /// only that file changed. Keys now follow the imports.
    @Test func anEditToAnotherDialectsFileRecompilesItsImporters() async throws {
        let rules = TestRules(overrides: [
            "beta/names.jq": "def tag: \"v1\";\n",
            "alpha/models.jq": """
            import "beta/names" as n;
            def encode($ctx): {list: [.models[].id], by: n::tag};
            def encode_one($ctx): {id: .id, by: n::tag};
            """,
        ])
        let store = RuleSetStore(try await rules.build(threads: 1))
        func listed() async throws -> String {
            let ex = Exchange(ruleSet: store.ruleSet, client: "alpha", upstream: "alpha", context: TestRules.context())
            return try await ex.renderModels(#"{"models":[{"id":"m1"}]}"#.bytes).text
        }
        #expect(try await listed() == #"{"list":["m1"],"by":"v1"}"#)
        rules.write("beta/names.jq", "def tag: \"v2\";\n")
        #expect(await store.reload() == nil)
        #expect(store.ruleSet.compiledPrograms == ["alpha/models"], "\(store.ruleSet.compiledPrograms)")
        #expect(try await listed() == #"{"list":["m1"],"by":"v2"}"#)
    }

    @Test func compileErrorsNameTheOriginalFiles() async throws {
        let rules = TestRules(overrides: ["beta/response.jq": "def decode($ctx): {text: .content};\n\ndef encode($ctx): {content: .text | };\n"])
        do { _ = try await rules.build(); Issue.record("expected an error") } catch let e as RuleCompileError {
            #expect(e.description.contains(rules.root + "/beta/response.jq"), "\(e)")
            #expect(!e.description.contains("cliproxy-rules-") || e.description.contains(rules.root), "\(e)")
        }
    }

    /// Compile threads ask for nice -10 so that a reload goes live within a
    /// second on a saturated CPU; they get it exactly when the process may
    /// lower a nice value (CAP_SYS_NICE, or RLIMIT_NICE of 30 or more).
    @Test func compileThreadsRunAtRaisedPriorityWhenAllowed() async throws {
        var capEff: UInt64 = 0
        for line in (FileSystem.readText("/proc/self/status") ?? "").split(separator: "\n") where line.hasPrefix("CapEff:") {
            capEff = UInt64(line.dropFirst("CapEff:".count).trimmingCharacters(in: .whitespaces), radix: 16) ?? 0
        }
        var limit = rlimit()
        getrlimit(__rlimit_resource_t(__RLIMIT_NICE.rawValue), &limit)
        let allowed = capEff & (1 << 23) != 0 || limit.rlim_cur >= 30  // bit 23: CAP_SYS_NICE

        func nice(_ t: RuleThread) async throws -> Int32 {
            try await t.perform { _ in getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0) }
        }
        let reloadCompiler = try #require(RuleThread(index: -1, raisePriority: true))
        defer { reloadCompiler.stop() }
        #expect(try await nice(reloadCompiler) == (allowed ? RuleThread.compileNice : 0), "allowed \(allowed)")
        // A first build's compile thread and a rule thread (serving) keep the normal priority.
        let startCompiler = try #require(RuleThread(index: -1))
        defer { startCompiler.stop() }
        #expect(try await nice(startCompiler) == 0)
        let worker = try #require(RuleThread(index: 0))
        defer { worker.stop() }
        #expect(try await nice(worker) == 0)
        // Named, for `ps -L` and the kernel's segfault lines.
        #expect(try await worker.perform { _ in FileSystem.readText("/proc/thread-self/comm") } == "jq-rules-0\n")
        #expect(try await startCompiler.perform { _ in FileSystem.readText("/proc/thread-self/comm") } == "jq-compile\n")

        // A reload that compiles something reports what it got.
        let rules = TestRules()
        let first = try await rules.build(threads: 1)
        rules.write("beta/request.jq", "def decode($ctx): {model: .model, text: .content};\ndef encode($ctx): {model: $ctx.model, content: .text, v: 3};\ndef passthrough($ctx): .;\n")
        let second = try await RuleSet.build(root: rules.root, beside: first)
        #expect(!second.compiledPrograms.isEmpty)
        #expect(RuleSet.compilePriorityRaised == allowed)
    }

    @Test func vetoedRebuildKeepsTheCurrentSet() async throws {
        let rules = TestRules()
        let store = RuleSetStore(try await rules.build())
        let first = store.ruleSet
        let err = await store.reload(accept: { _ in "fixtures failed" })
        #expect(err.map { "\($0)" } == "fixtures failed")
        #expect(store.ruleSet === first)
    }
}

@Suite struct SerializerTests {
    /// The fast writer must print exactly what libjq prints.
    @Test func matchesLibjqOnNumbersAndStrings() throws {
        var values: [String] = ["0", "-0", "1", "-1", "0.1", "1e15", "1e16", "1e17", "2.5e16", "123456789012", "1.5e-7", "0.001", "0.0001",
                                "0.00012345", "1.2e-5", "123e20", "3.14159", "5e-324", "1.7976931348623157e308", "9007199254740993",
                                "1234567890123456.7", "12345678901234567", "-2.5e-300", "1e300", "100", "1.0", "0.30000000000000004"]
        var seed: UInt64 = 42
        for _ in 0..<3000 {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            let d = Double(bitPattern: seed >> 1 | 0x3000_0000_0000_0000 & (seed << 1)) // wide spread of exponents
            if d.isFinite { values.append("\(d)") }
            values.append("\(Double(Int64(bitPattern: seed) >> Int64(seed % 50)))")
            values.append("\(Double(seed % 100000) / 1000)")
        }
        values.append(#""plain \"quoted\" back\\slash \n\t\r\b\f \u0001 \u001f \u007f é 😀 / <>""#)
        values.append(#"{"a":[1,{"b":null,"c":true,"d":false}],"":"","z":{}}"#)
        for text in values {
            let v = try JV.parse(text.bytes)
            defer { jv_free(v) }
            #expect(JSONWriter.string(v) == JV.dumpWithLibjq(v), "\(text)")
        }
    }
}
