import Testing
import CJQ
@testable import RuleEngine

/// The shipped `Rules/` under bad and extreme input: every failure must be a
/// typed error the server can render in the client's dialect, never a crash
/// or a hang.
@Suite(.serialized) struct RealRulesTests {
    static let root: String = {
        let here = #filePath
        let repo = here[..<here.firstRange(of: "/Tests/")!.lowerBound]
        return repo + "/Rules"
    }()

    static let shared = Task { try await RuleSet.build(root: root, threads: 2) }
    static func rules() async throws -> RuleSet { try await shared.value }
    static let dialects = ["openai", "responses", "claude", "gemini"]

    static func context(_ stream: Bool = false) -> TranslationContext {
        TranslationContext(model: "some-model", clientModel: "some-model", stream: stream, requestID: "t1", created: 1782321921, idSeed: "t")
    }

    /// A minimal valid request of each dialect.
    static let hello: [String: String] = [
        "openai": #"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#,
        "responses": #"{"model":"m","input":"hi"}"#,
        "claude": #"{"model":"m","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}"#,
        "gemini": #"{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}"#,
    ]

    @Test func everyPairTranslatesAMinimalRequest() async throws {
        let set = try await Self.rules()
        for c in Self.dialects {
            for u in Self.dialects {
                let out = try await Exchange(ruleSet: set, client: c, upstream: u, context: Self.context()).translateRequest(Self.hello[c]!.bytes)
                #expect(out.text.contains("hi"), "\(c) → \(u): \(out.text)")
            }
        }
    }

    /// Exchanges dropped by the server's tasks release their parsed request,
    /// IR and `$ctx` on their rule thread, never on the dropping thread:
    /// libjq's counts are not atomic, and the IR holds strings shared with
    /// the compiled program that the rule thread is counting at the same
    /// time. (The release used to ride on a job the exchange's deinit queued;
    /// when that job ran before the deinit had let go of the exchange's own
    /// reference, the last reference fell on the dropping thread — a SIGSEGV
    /// in libjq after ~1 million fuzz requests. Debug builds stop at a
    /// `JVCell` touched by a second thread, so here the race fails the run.)
    @Test func droppedExchangesReleaseTheirValuesOnTheirRuleThread() async throws {
        let set = try await Self.rules()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for t in 0..<4 {
                group.addTask {
                    for i in 0..<400 {
                        let c = Self.dialects[(t + i) % 4], u = Self.dialects[(t + i + 1) % 4]
                        let ex = Exchange(ruleSet: set, client: c, upstream: u, context: Self.context())
                        _ = try await ex.decode(Self.hello[c]!.bytes)
                        let bound = ex.bound(to: u, model: "m")
                        let out = try await bound.encodeRequest()
                        #expect(out.text.contains("hi"))
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    /// A body of another dialect, or one missing what the dialect requires,
    /// is refused by the client dialect's decoder with a message naming the
    /// field. (A minimal Claude body is also a valid Chat body, so that pair
    /// is not "wrong".) Upstreams differ from the client: within one dialect
    /// the request passes through untouched.
    @Test func wrongDialectAndMissingFieldsNameTheProblem() async throws {
        let set = try await Self.rules()
        let alsoValid: Set<String> = ["openai<claude"]
        for c in Self.dialects {
            let u = c == "openai" ? "claude" : "openai"
            for (other, body) in Self.hello where other != c && !alsoValid.contains("\(c)<\(other)") {
                do {
                    let out = try await Exchange(ruleSet: set, client: c, upstream: u, context: Self.context()).translateRequest(body.bytes)
                    Issue.record("\(c) accepted a \(other) body: \(out.text)")
                } catch let e as RuleRuntimeError {
                    #expect(e.rule == "\(c)/request::decode", "\(e)")
                    #expect(e.message.contains(":"), "a message naming the field: \(e.message)")
                }
            }
            for bad in ["{}", "[]", "\"text\"", "42", "null", #"{"model":5,"messages":"x","contents":7,"input":false}"#] {
                await #expect(throws: RuleRuntimeError.self, "\(c) with \(bad)") {
                    _ = try await Exchange(ruleSet: set, client: c, upstream: u, context: Self.context()).translateRequest(bad.bytes)
                }
            }
        }
    }

    @Test func malformedBodiesAreInputErrors() async throws {
        let set = try await Self.rules()
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        let cases: [[UInt8]] = ["{\"model\":".bytes, "".bytes, "{\"a\":1}}".bytes, deep.bytes, [0x7B, 0x22, 0xC3, 0x28, 0x22, 0x3A, 0x31, 0x7D]]
        for c in Self.dialects {
            for body in cases {
                await #expect(throws: RuleInputError.self) {
                    _ = try await Exchange(ruleSet: set, client: c, upstream: "gemini", context: Self.context()).translateRequest(body)
                }
            }
        }
    }

    @Test func wrongTypesInEveryFieldNeverCrash() async throws {
        let set = try await Self.rules()
        let junk = ["null", "1", "-1.5", "true", "\"x\"", "[]", "{}", "[1,\"a\",null]", #"{"type":"text"}"#]
        for c in Self.dialects {
            // Replace each top-level field, and each field of the first message/content item, with junk.
            let base = try parseObject(Self.hello[c]!)
            for key in base.keys {
                for j in junk {
                    var copy = base; copy[key] = j
                    let body = "{" + copy.map { "\"\($0.key)\":\($0.value)" }.joined(separator: ",") + "}"
                    for u in Self.dialects {
                        do { _ = try await Exchange(ruleSet: set, client: c, upstream: u, context: Self.context()).translateRequest(body.bytes) }
                        catch is RuleRuntimeError {} catch is RuleInputError {}
                    }
                }
            }
        }
        // and the workers still answer
        let ok = try await Exchange(ruleSet: set, client: "claude", upstream: "openai", context: Self.context()).translateRequest(Self.hello["claude"]!.bytes)
        #expect(!ok.isEmpty)
    }

    @Test func hugeImagesAndToolListsTranslate() async throws {
        let set = try await Self.rules()
        // 20 MB of base64 image data in a Claude request, to every upstream.
        let b64 = String(repeating: "iVBORw0KGgoAAAANSUhEUgAA", count: (20 << 20) / 24)
        let image = #"{"model":"m","max_tokens":100,"messages":[{"role":"user","content":[{"type":"text","text":"what is it?"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"\#(b64)"}}]}]}"#
        for u in Self.dialects {
            let out = try await Exchange(ruleSet: set, client: "claude", upstream: u, context: Self.context()).translateRequest(image.bytes)
            #expect(out.count > b64.utf8.count, "\(u) kept the image")
        }
        // 2,000 tools.
        let tools = (0..<2000).map { #"{"name":"tool_\#($0)","description":"d","input_schema":{"type":"object","properties":{"a":{"type":"string"}}}}"# }.joined(separator: ",")
        let many = #"{"model":"m","max_tokens":100,"tools":[\#(tools)],"messages":[{"role":"user","content":"hi"}]}"#
        for u in Self.dialects {
            let out = try await Exchange(ruleSet: set, client: "claude", upstream: u, context: Self.context()).translateRequest(many.bytes)
            #expect(out.text.contains("tool_1999"), "\(u)")
        }
    }

    /// Regression: jq 1.6's `gsub`, `explode` and `ascii_downcase` cost
    /// seconds to minutes on megabyte strings, and the rules ran them on
    /// client-sized fields — a 2 MB tool-call id of punctuation held a rule
    /// thread for minutes and ran the process out of memory; an 8 MB schema
    /// type took 7 s. Long values are now cut, sampled or passed on as they
    /// came (Rules/lib/text.jq, lib/ids.jq). This checks what each becomes.
    @Test func megabyteStringsInTextFieldsTranslate() async throws {
        let set = try await Self.rules()
        let mb = 1 << 20
        func translate(_ c: String, _ u: String, _ body: String) async throws -> String {
            try await Exchange(ruleSet: set, client: c, upstream: u, context: Self.context()).translateRequest(body.bytes).text
        }
        // A tool-call id of punctuation: hashed by its ends, cut, then cleaned.
        let id = String(repeating: "-.", count: mb)
        let call = #"{"model":"m","messages":[{"role":"user","content":"hi"},{"role":"assistant","content":null,"tool_calls":[{"id":"\#(id)","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"\#(id)","content":"ok"}]}"#
        let claude = try await translate("openai", "claude", call)
        let ids = claude.matches(of: #/"(?:id|tool_use_id)":"(call_[a-z0-9]{1,10}_[-_]+)"/#).map { String($0.1) }
        #expect(ids.count == 2 && ids[0] == ids[1], "the call and its result keep one id: \(ids)")
        #expect(ids.first.map { $0.count <= 40 && $0.hasSuffix("-_-_-_-_") } == true, "\(ids)")
        // Blank-but-one tool arguments are kept, not emptied.
        let args = String(repeating: " ", count: 2 * mb) + "x"
        let raw = #"{"model":"m","messages":[{"role":"user","content":"hi"},{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"\#(args)"}}]},{"role":"tool","tool_call_id":"c1","content":"ok"}]}"#
        #expect(try await translate("openai", "claude", raw).contains("_raw_arguments"))
        // A schema type and a thinking level of 2 MB go on unchanged.
        let type = String(repeating: "T", count: 2 * mb)
        let schema = #"{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"tools":[{"functionDeclarations":[{"name":"f","parameters":{"type":"\#(type)"}}]}]}"#
        #expect(try await translate("gemini", "openai", schema).contains(type))
        let level = #"{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"thinkingConfig":{"thinkingLevel":"\#(type)"}}}"#
        _ = try await translate("gemini", "openai", level)
        // A short one is still folded.
        #expect(try await translate("gemini", "openai", schema.replacing(type, with: "STRING")).contains(#""type":"string""#))
    }

    @Test func proxyErrorsReachEachClientInItsDialect() async throws {
        let set = try await Self.rules()
        for c in Self.dialects {
            let ex = Exchange(ruleSet: set, client: c, upstream: c, context: Self.context())
            let r = try await ex.encodeError(status: 429, type: "rate_limit", message: "slow down", retryAfter: 37)
            #expect(r.status == 429)
            #expect(r.body.text.contains("slow down"), "\(c): \(r.body.text)")
            let e = try await ex.encodeError(status: 400, type: "invalid_request", message: "no credentials for model x")
            #expect(e.status == 400 && e.body.text.contains("no credentials for model x"))
        }
    }

    @Test func streamsWithoutTheirEndBecomeErrors() async throws {
        let set = try await Self.rules()
        // A Claude upstream that stops after one text delta, for every client.
        let events = [
            SSEEvent(name: "message_start", data: #"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":5,"output_tokens":1}}}"#.bytes),
            SSEEvent(name: "content_block_start", data: #"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#.bytes),
            SSEEvent(name: "content_block_delta", data: #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"partial"}}"#.bytes),
        ]
        for c in Self.dialects where c != "claude" {
            let ex = Exchange(ruleSet: set, client: c, upstream: "claude", context: Self.context(true))
            let t = ex.streamTranslator()
            let body = try await t.translate(events)
            let tail = try await t.finish()
            #expect(body.text.contains("partial"), "\(c)")
            #expect(tail.text.lowercased().contains("error") || tail.text.contains("failed"), "\(c) ended without an error: \(tail.text)")
        }
    }

    private func parseObject(_ text: String) throws -> [String: String] {
        let v = try JV.parse(text.bytes)
        defer { jv_free(v) }
        var out: [String: String] = [:]
        var it = jv_object_iter(v)
        while jv_object_iter_valid(v, it) != 0 {
            let k = jv_object_iter_key(v, it), val = jv_object_iter_value(v, it)
            out[JV.text(k)!] = JSONWriter.string(val)
            jv_free(k); jv_free(val)
            it = jv_object_iter_next(v, it)
        }
        return out
    }
}
