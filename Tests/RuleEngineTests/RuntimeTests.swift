import Testing
#if canImport(Glibc)
import Glibc
#endif
import CJQ
@testable import RuleEngine

@Suite struct RuntimeTests {
    @Test func translatesRequestThroughBothDialects() async throws {
        let set = try await TestRules().build()
        let ex = Exchange(ruleSet: set, client: "alpha", upstream: "beta", context: TestRules.context())
        let out = try await ex.translateRequest(#"{"m":"x","t":"hello"}"#.bytes)
        #expect(out.text == #"{"model":"up-model","content":"HELLO"}"#)
    }

    @Test func sameDialectUsesPassthrough() async throws {
        let set = try await TestRules().build()
        let ex = Exchange(ruleSet: set, client: "beta", upstream: "beta", context: TestRules.context())
        let out = try await ex.translateRequest(#"{"model":"x","content":"hi","extra":[1,2]}"#.bytes)
        #expect(out.text == #"{"model":"up-model","content":"hi","extra":[1,2]}"#)
        // and responses come back untouched, byte for byte
        let body = #"{"content": "as is" }"#.bytes
        #expect(try await ex.translateResponse(body) == body)
    }

    @Test func responseRulesSeeTheClientRequest() async throws {
        let set = try await TestRules().build()
        let ex = Exchange(ruleSet: set, client: "alpha", upstream: "beta", context: TestRules.context())
        _ = try await ex.translateRequest(#"{"m":"x","t":"question"}"#.bytes)
        let out = try await ex.translateResponse(#"{"content":"answer"}"#.bytes)
        #expect(out.text == #"{"t":"answer","id":"a-r1","asked":"question"}"#)
    }

    @Test func compileErrorsNameFileAndLine() async throws {
        let rules = TestRules(overrides: ["beta/response.jq": "def decode($ctx): {text: .content};\n\ndef encode($ctx): {content: .text | };\n"])
        do {
            _ = try await rules.build()
            Issue.record("expected a compile error")
        } catch let e as RuleCompileError {
            #expect(e.description.contains("beta/response.jq"))
            #expect(e.description.contains("line 3"))
        }
    }

    @Test func missingDefinitionIsACompileError() async throws {
        let rules = TestRules(overrides: ["beta/response.jq": "def decode($ctx): {text: .content};\n"])
        await #expect(throws: RuleCompileError.self) { _ = try await rules.build() }
    }

    @Test func missingModuleIsReported() async throws {
        let rules = TestRules()
        unlink(rules.root + "/beta/error.jq")
        do { _ = try await rules.build(); Issue.record("expected an error") } catch let e as RuleCompileError {
            #expect(e.description.contains("beta/: missing module(s) error.jq"))
        }
    }

    @Test func forbiddenTokensAreRefusedWithFileAndLine() async throws {
        for (snippet, word) in [("$ENV.HOME", "$ENV"), ("env.HOME", "env"), ("now", "now"), ("\"x\\(env)\"", "env"), ("input", "input")] {
            let rules = TestRules(overrides: ["beta/response.jq": "def decode($ctx): {text: .content};\n# a comment may say env and now\ndef encode($ctx): {content: \(snippet)};\n"])
            do { _ = try await rules.build(); Issue.record("\(snippet) was accepted") } catch let e as RuleCompileError {
                #expect(e.description.contains("beta/response.jq:3: `\(word)` is not allowed"), "\(e)")
            }
        }
        // Field names and object keys that merely look like builtins are fine.
        let ok = TestRules(overrides: ["beta/response.jq": "def decode($ctx): {text: .content, input: .input, x: \"env now\"};\ndef encode($ctx): {content: .text, env: 1};\n"])
        _ = try await ok.build()
    }

    @Test func runtimeErrorsNameTheRule() async throws {
        let set = try await TestRules().build()
        let ex = Exchange(ruleSet: set, client: "alpha", upstream: "beta", context: TestRules.context())
        do { _ = try await ex.translateRequest(#"{"m":"x"}"#.bytes); Issue.record("expected an error") } catch let e as RuleRuntimeError {
            #expect(e.rule == "alpha/request::decode")
            #expect(e.message == "t: field required")
        }
        // A jq type error in an encoder is attributed to the encoder.
        do { _ = try await ex.translateRequest(#"{"m":"x","t":5}"#.bytes); Issue.record("expected an error") } catch let e as RuleRuntimeError {
            #expect(e.rule == "beta/request::encode")
            #expect(!e.message.isEmpty)
        }
    }

    @Test func zeroOrManyOutputsAreErrors() async throws {
        let none = TestRules(overrides: ["beta/response.jq": "def decode($ctx): empty;\ndef encode($ctx): .;\n"])
        let set = try await none.build()
        let ex = Exchange(ruleSet: set, client: "alpha", upstream: "beta", context: TestRules.context())
        await #expect(throws: RuleRuntimeError.self) { _ = try await ex.translateResponse("{}".bytes) }
        let many = TestRules(overrides: ["beta/response.jq": "def decode($ctx): (1, 2);\ndef encode($ctx): .;\n"])
        let set2 = try await many.build()
        let ex2 = Exchange(ruleSet: set2, client: "alpha", upstream: "beta", context: TestRules.context())
        do { _ = try await ex2.translateResponse("{}".bytes); Issue.record("expected an error") } catch let e as RuleRuntimeError {
            #expect(e.rule == "beta/response::decode")
            #expect(e.message.contains("2 outputs"))
        }
        let halting = TestRules(overrides: ["beta/response.jq": "def decode($ctx): halt_error(3);\ndef encode($ctx): .;\n"])
        let set3 = try await halting.build()
        let ex3 = Exchange(ruleSet: set3, client: "alpha", upstream: "beta", context: TestRules.context())
        await #expect(throws: RuleRuntimeError.self) { _ = try await ex3.translateResponse("{}".bytes) }
    }

    @Test func badInputIsATypedError() async throws {
        let set = try await TestRules().build()
        let ex = Exchange(ruleSet: set, client: "alpha", upstream: "beta", context: TestRules.context())
        // malformed JSON; the message must not quote the body back
        do { _ = try await ex.translateRequest(#"{"m":"secret-key-123","t":"x""#.bytes); Issue.record("accepted") } catch let e as RuleInputError {
            guard case .malformedJSON(let m) = e else { Issue.record("\(e)"); return }
            #expect(!m.contains("secret-key-123"))
        }
        // invalid UTF-8
        do { _ = try await ex.translateRequest([0x7B, 0x22, 0x74, 0x22, 0x3A, 0x22, 0xFF, 0x22, 0x7D]); Issue.record("accepted") } catch let e as RuleInputError {
            #expect(e == .invalidUTF8(byteOffset: 6))
        }
        // 10,000 levels of nesting
        let deep = Array(repeating: UInt8(ascii: "["), count: 10_000) + Array(repeating: UInt8(ascii: "]"), count: 10_000)
        await #expect(throws: RuleInputError.self) { _ = try await ex.translateRequest(deep) }
        // a body of the wrong shape: the rule's own message
        await #expect(throws: RuleRuntimeError.self) { _ = try await ex.translateRequest("[1,2,3]".bytes) }
        // the worker survives all of that
        #expect(try await ex.translateRequest(#"{"t":"ok"}"#.bytes).text == #"{"model":"up-model","content":"OK"}"#)
    }

    @Test func largeBodiesTranslate() async throws {
        let set = try await TestRules().build()
        let ex = Exchange(ruleSet: set, client: "alpha", upstream: "alpha", context: TestRules.context())
        let big = String(repeating: "a", count: 20 << 20)
        let out = try await ex.translateRequest(#"{"m":"x","t":"\#(big)"}"#.bytes)
        #expect(out.count == 20 << 20 + #"{"m":"up-model","t":""}"#.utf8.count)
    }

    @Test func concurrentTranslationsStayCorrect() async throws {
        let set = try await TestRules().build(threads: 2)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<400 {
                group.addTask {
                    let ex = Exchange(ruleSet: set, client: "alpha", upstream: "beta", context: TestRules.context())
                    let out = try await ex.translateRequest(#"{"t":"msg\#(i)"}"#.bytes)
                    #expect(out.text == #"{"model":"up-model","content":"MSG\#(i)"}"#)
                }
            }
            try await group.waitForAll()
        }
    }

    @Test func errorsTranslateWithStatusAndHeaders() async throws {
        let set = try await TestRules().build()
        let ex = Exchange(ruleSet: set, client: "alpha", upstream: "beta", context: TestRules.context())
        let r = try await ex.translateError(status: 429, body: #"{"error":"slow down"}"#.bytes)
        #expect(r.status == 429)
        #expect(r.headers.first?.0 == "x-kind")
        #expect(r.body.text == #"{"err":"slow down"}"#)
        // a non-JSON upstream body arrives as a string
        let ex2 = Exchange(ruleSet: set, client: "beta", upstream: "alpha", context: TestRules.context())
        let r2 = try await ex2.translateError(status: 502, body: "<html>Bad gateway</html>".bytes)
        #expect(r2.body.text == #"{"error":"<html>Bad gateway</html>"}"#)
        // the proxy's own errors go through the client dialect's encoder
        let own = try await ex.encodeError(status: 400, type: "invalid_request", message: "no model")
        #expect(own.status == 400 && own.body.text == #"{"err":"no model"}"#)
    }

    /// Regression: a worker once released finished jobs under its queue lock;
    /// when that freed the last reference to an Exchange, the release of its
    /// values (queued on the worker: `JVCell`) re-entered the queue and the
    /// worker deadlocked.
    @Test(.timeLimit(.minutes(2))) func droppedExchangesDoNotDeadlockTheWorkers() async throws {
        let set = try await TestRules().build(threads: 2)
        for i in 0..<3000 {
            let ex = Exchange(ruleSet: set, client: "alpha", upstream: "beta", context: TestRules.context())
            let out = try await ex.translateRequest(#"{"t":"n\#(i)"}"#.bytes)
            #expect(out.count > 0)
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<2000 {
                group.addTask {
                    let ex = Exchange(ruleSet: set, client: "alpha", upstream: "beta", context: TestRules.context(stream: true))
                    _ = ex.streamTranslator()
                    _ = try await ex.translateRequest(#"{"t":"p\#(i)"}"#.bytes)
                }
            }
            try await group.waitForAll()
        }
    }
}
