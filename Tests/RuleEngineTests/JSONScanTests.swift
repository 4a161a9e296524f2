import Testing
import CJQ
@testable import RuleEngine

@Suite struct JSONScanTests {
    @Test func acceptsValidJSONAndFindsTopLevelKeys() throws {
        let text = #" { "messages": [{"model": "inner", "stream": false}], "model" : "gpt-\u00e9\"x", "stream":true, "n": -1.5e+3 } "#
        let scan = try #require(JSONScan(Array(text.utf8), keys: ["model", "stream", "absent"]))
        #expect(scan.isObject)
        #expect(scan.string("model") == "gpt-é\"x")
        #expect(scan.bool("stream") == true)
        #expect(scan.string("absent") == nil)
        // Only the top level counts: the nested "model" was not taken.
        let spliced = try #require(scan.replacing("model", withString: "up\"stream"))
        let v = try JV.parse(spliced)
        defer { jv_free(v) }
        #expect(JV.text(JVBorrow(v, "model").value) == "up\"stream")
        #expect(JSONWriter.string(JVBorrow(v, "messages").value) == #"[{"model":"inner","stream":false}]"#)
    }

    @Test func rejectsWhatIsNotJSON() {
        let bad = ["", "{", "}", "{\"a\":}", "{\"a\" 1}", "{\"a\":1,}", "[1,]", "[01]", "[1.]", "[.5]", "[+1]", "[1e]", "\"\\x\"",
                   "\"\\u12G4\"", "\"a\nb\"", "{a:1}", "[tru]", "[nul]", "{\"a\":1} x", "[\"\\", "nan", "[1] [2]"]
        for text in bad {
            #expect(JSONScan(Array(text.utf8), keys: []) == nil, "\(text)")
        }
        #expect(JSONScan([0x22, 0xFF, 0x22], keys: []) == nil, "invalid UTF-8")
        let deep = Array(repeating: UInt8(ascii: "["), count: 300) + Array(repeating: UInt8(ascii: "]"), count: 300)
        #expect(JSONScan(deep, keys: []) == nil, "deeper than libjq's limit")
    }

    @Test func agreesWithLibjqOnValidInput() throws {
        let good = ["{}", "[]", "0", "-0.0e-1", "\"\\ud83d\\ude00 \\/ \\b\\f\\n\\r\\t\"", "[true,false,null]", "{\"a\":{\"b\":[1,2,{\"c\":\"d\"}]}}",
                    "  [ 1 , 2 ]  ", "1E400", "\"é😀\""]
        for text in good {
            #expect(JSONScan(Array(text.utf8), keys: []) != nil, "\(text)")
            let v = try JV.parse(Array(text.utf8))
            jv_free(v)
        }
    }

    @Test func passthroughKeysComeFromDialectData() async throws {
        let rules = TestRules()
        rules.write("alpha/dialect.json", #"{"model_key": "m", "stream_key": "s"}"#)
        let set = try await rules.build()
        #expect(set.source.passthroughKeys["alpha"] == RuleSource.PassthroughKeys(model: "m", stream: "s"))
        #expect(set.source.passthroughKeys["beta"] == nil)
        rules.write("beta/dialect.json", "[1]")
        await #expect(throws: RuleCompileError.self) { _ = try await rules.build() }
    }
}
