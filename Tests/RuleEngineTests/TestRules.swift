@testable import RuleEngine
#if canImport(Glibc)
import Glibc
#endif

/// A throwaway `Rules/` folder with two toy dialects, for testing the engine
/// without the real rules: `alpha` bodies look like `{"m": …, "t": …}`,
/// `beta` bodies like `{"model": …, "content": …}`.
struct TestRules {
    let root: String

    static let files: [String: String] = [
        "lib/util.jq": """
        def shout: ascii_upcase;
        """,
        "alpha/request.jq": """
        import "lib/util" as u;
        def decode($ctx): if .t == null then error("t: field required") else {model: .m, text: .t} end;
        def encode($ctx): {m: $ctx.model, t: .text};
        def passthrough($ctx): .m = $ctx.model;
        """,
        "alpha/response.jq": """
        def decode($ctx): {text: .t};
        def encode($ctx): {t: .text, id: "a-\\($ctx.request_id)", asked: $ctx.request.t};
        """,
        "alpha/stream.jq": """
        # Events {"data": {"d": "<text>"}} or {"data": "END"}.
        def decode($ctx):
          .final as $final
          | reduce .events[] as $e ({state: (.state // {n: 0, ended: false}), out: []};
              if $e.data == "END" then .state.ended = true
              else .state.n += 1 | .out += [{type: "text", text: $e.data.d}] end)
          | if $final then .out += [if .state.ended then {type: "end", n: .state.n} else {type: "error"} end] else . end;
        def encode($ctx):
          reduce .events[] as $e ({state: .state, out: []};
            if $e.type == "text" then .out += [{event: null, data: {d: $e.text}}]
            elif $e.type == "end" then .out += [{event: null, data: "END"}]
            else .out += [{event: "error", data: {error: "broken"}}] end);
        """,
        "alpha/error.jq": """
        def decode($ctx): {status: .status, type: "server", message: (if (.body | type) == "object" then .body.msg else .body end)};
        def encode($ctx): {status: .status, headers: {"x-kind": .type}, body: {err: .message}};
        """,
        "beta/request.jq": """
        import "lib/util" as u;
        def decode($ctx): {model: .model, text: .content};
        def encode($ctx): {model: $ctx.model, content: (.text | u::shout)};
        def passthrough($ctx): .model = $ctx.model;
        """,
        "beta/response.jq": """
        def decode($ctx): {text: .content};
        def encode($ctx): {content: .text};
        """,
        "beta/stream.jq": """
        def decode($ctx):
          .final as $final
          | reduce .events[] as $e ({state: (.state // {done: false}), out: []};
              if $e.event == "stop" then .state.done = true else .out += [{type: "text", text: $e.data.c}] end)
          | if $final then .out += [if .state.done then {type: "end", n: 0} else {type: "error"} end] else . end;
        def encode($ctx):
          reduce .events[] as $e ({state: .state, out: []};
            if $e.type == "text" then .out += [{event: "delta", data: {c: $e.text}}]
            elif $e.type == "end" then .out += [{event: "stop", data: {}}]
            else .out += [{event: "error", data: {}}] end);
        """,
        "beta/error.jq": """
        def decode($ctx): {status: .status, type: "server", message: .body.error};
        def encode($ctx): {status: .status, headers: {}, body: {error: .message}};
        """,
    ]

    /// Writes the toy rules (with optional replacements) into a new temp folder.
    init(overrides: [String: String] = [:]) {
        var template = Array("/tmp/cliproxy-rules-XXXXXX".utf8CString)
        let dir = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
        root = dir
        for (rel, text) in Self.files.merging(overrides, uniquingKeysWith: { $1 }) { write(rel, text) }
    }

    func write(_ rel: String, _ text: String) {
        let path = root + "/" + rel
        let dir = String(path[..<path.lastIndex(of: "/")!])
        mkdir(dir, 0o755)
        FileSystem.write(path, text)
    }

    func build(threads: Int = 2) async throws -> RuleSet { try await RuleSet.build(root: root, threads: threads) }

    static func context(stream: Bool = false) -> TranslationContext {
        TranslationContext(model: "up-model", clientModel: "client-model", stream: stream, requestID: "r1", created: 1700000000, idSeed: "s")
    }
}

extension Array where Element == UInt8 {
    var text: String { String(decoding: self, as: UTF8.self) }
}

extension String {
    var bytes: [UInt8] { Array(utf8) }
}
