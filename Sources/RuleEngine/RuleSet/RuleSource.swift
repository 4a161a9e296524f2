#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a `Rules/` folder holds, read from disk: the dialects (one folder
/// each, with the four modules of the contract in `Rules/README.md`) and the
/// text of every rule file, checked against the source policy.
///
/// From it comes the one program every worker compiles: a dispatcher that
/// imports every dialect's modules and composes them per operation, e.g. a
/// response is `<upstream>/response::decode | <client>/response::encode`.
/// Swift only knows the module and definition names of the contract, never a
/// dialect's fields.
public struct RuleSource: Sendable {
    /// The modules every dialect folder must provide, with their definitions.
    public static let contract: [(module: String, defs: [String])] = [
        ("request", ["decode", "encode", "passthrough"]),
        ("response", ["decode", "encode"]),
        ("stream", ["decode", "encode"]),
        ("error", ["decode", "encode"]),
    ]

    public let root: String
    public let dialects: [String]
    /// Every `.jq` file under `root`, relative path → text.
    public let files: [String: String]

    /// Reads `root` (made absolute). Throws when a dialect folder lacks a
    /// module, or when a rule file breaks the source policy.
    public static func load(root: String) throws(RuleCompileError) -> RuleSource {
        let abs = FileSystem.absolute(root)
        guard FileSystem.isDirectory(abs) else { throw RuleCompileError(["rules folder not found: \(abs)"]) }
        var files: [String: String] = [:]
        for rel in FileSystem.walk(abs) where rel.hasSuffix(".jq") {
            guard let text = FileSystem.readText(abs + "/" + rel) else { throw RuleCompileError(["cannot read \(rel)"]) }
            files[rel] = text
        }
        var problems: [String] = []
        for (rel, text) in files.sorted(by: { $0.key < $1.key }) {
            problems += SourcePolicy.violations(in: text).map { "\(rel):\($0.line): \($0.message)" }
        }
        var dialects: [String] = []
        for name in FileSystem.list(abs).sorted() where FileSystem.isDirectory(abs + "/" + name) && name != "lib" && !name.hasPrefix(".") {
            let missing = contract.map(\.module).filter { files["\(name)/\($0).jq"] == nil }
            if missing.count == contract.count { continue }  // not a dialect folder (e.g. providers/)
            if !missing.isEmpty {
                problems.append("\(name)/: missing module(s) \(missing.map { "\($0).jq" }.joined(separator: ", "))")
            }
            guard name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
                problems.append("\(name)/: a dialect folder name may hold only letters, digits and _")
                continue
            }
            dialects.append(name)
        }
        if dialects.isEmpty { problems.append("no dialect folders in \(abs)") }
        if !problems.isEmpty { throw RuleCompileError(problems) }
        return RuleSource(root: abs, dialects: dialects, files: files)
    }

    /// The dispatcher program: input `{op, from, to, ctx, body}` (streams add
    /// `state` and `final`), one output. Each stage runs under `_at`, which
    /// turns any error into `{rule, message}` naming the module and
    /// definition. The `[ try … ]` form keeps jq 1.6 from catching errors of
    /// later stages in an earlier stage's `try`.
    public var dispatcher: String {
        var s = ""
        for d in dialects {
            for (m, _) in Self.contract { s += "import \"\(d)/\(m)\" as \(d)_\(m);\n" }
        }
        let hasCollect = files["lib/collect.jq"] != nil
        if hasCollect { s += "import \"lib/collect\" as lib_collect;\n" }
        s += """
        def _at($rule; f): [try f catch error({rule: $rule, message: .})]
          | if length == 1 then .[0]
            elif length == 0 then error({rule: $rule, message: "produced no output"})
            else error({rule: $rule, message: "produced \\(length) outputs, expected one"}) end;

        """
        for (m, defs) in Self.contract {
            for def in defs {
                s += "def \(m)_\(def)($d; $ctx):\n"
                var first = true
                for d in dialects {
                    s += "  \(first ? "if" : "elif") $d == \"\(d)\" then _at(\"\(d)/\(m)::\(def)\"; \(d)_\(m)::\(def)($ctx))\n"
                    first = false
                }
                s += "  else error({rule: \"dispatcher\", message: \"unknown dialect \\($d)\"}) end;\n"
            }
        }
        s += """
        def _stream($c; $u; $ctx):
          . as $in
          | ({state: $in.state.d, events: $in.events, final: $in.final} | stream_decode($u; $ctx)) as $d
          | (if ($d.out | length) == 0 and ($in.final | not) then {state: $in.state.e, out: []}
             else {state: $in.state.e, events: $d.out, final: $in.final} | stream_encode($c; $ctx) end) as $e
          | {state: {d: $d.state, e: $e.state}, out: $e.out};
        .ctx as $ctx | .from as $c | .to as $u | .op as $op
        | if $op == "request" then .body | (if $c == $u then request_passthrough($c; $ctx) else request_decode($c; $ctx) | request_encode($u; $ctx) end)
          elif $op == "decode_request" then .body | request_decode($c; $ctx)
          elif $op == "encode_request" then .body | request_encode($u; $ctx)
          elif $op == "response" then .body | (if $c == $u then . else response_decode($u; $ctx) | response_encode($c; $ctx) end)
          elif $op == "stream" then _stream($c; $u; $ctx)
          elif $op == "error" then .body | error_decode($u; $ctx) | error_encode($c; $ctx)
          elif $op == "encode_error" then .body | error_encode($c; $ctx)
          elif $op == "collect" then
            ({state: null, events: .body, final: true} | stream_decode($u; $ctx)).out
            | _at("lib/collect::collect"; \(hasCollect ? "lib_collect::collect" : "error(\"Rules/lib/collect.jq is missing\")"))
            | if .error then (.error | error_encode($c; $ctx)) else {status: 200, headers: {}, body: response_encode($c; $ctx)} end
          elif $op == "decode_stream" then {state: .state, events: .events, final: .final} | stream_decode($u; $ctx)
          elif $op == "decode_response" then .body | response_decode($u; $ctx)
          else error({rule: "dispatcher", message: "unknown operation \\($op)"}) end

        """
        return s
    }
}

/// Tokens a rule may not use. `$ENV` and `env` would expose the process
/// environment (API keys) to rules, and libjq 1.6 cannot hide `$ENV`; the
/// others would make outputs depend on the clock, on files or on stdin.
enum SourcePolicy {
    static let forbidden: [String: String] = [
        "$ENV": "exposes the process environment",
        "env": "exposes the process environment",
        "now": "rules are deterministic: use $ctx.created",
        "input": "rules read only their input",
        "inputs": "rules read only their input",
        "input_filename": "rules read only their input",
        "modulemeta": "reads files at run time",
        "get_search_list": "reads files at run time",
        "$__prog_args": "internal",
        "debug": "writes to the server's stderr",
        "stderr": "writes to the server's stderr",
        "input_line_number": "rules read only their input",
    ]

    struct Violation { var line: Int; var message: String }

    /// Scans jq source for forbidden identifiers outside comments and string
    /// literals (but inside `\( … )` interpolations, which are code).
    static func violations(in text: String) -> [Violation] {
        var out: [Violation] = []
        let b = Array(text.utf8)
        var i = 0, line = 1
        // Stack of contexts: false = code, true = string. Interpolation pushes code.
        var stack: [Bool] = [false]
        var parenDepth: [Int] = [0]
        func isIdent(_ c: UInt8) -> Bool { (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) || c == 0x5F }
        while i < b.count {
            let c = b[i]
            if c == 0x0A { line += 1 }
            if stack.last! {  // inside a string
                if c == 0x5C, i + 1 < b.count {
                    if b[i + 1] == 0x28 { stack.append(false); parenDepth.append(0); i += 2; continue }
                    i += 2; continue
                }
                if c == 0x22 { stack.removeLast(); parenDepth.removeLast() }
                i += 1; continue
            }
            if c == 0x23 { while i < b.count && b[i] != 0x0A { i += 1 }; continue }  // comment
            if c == 0x22 { stack.append(true); parenDepth.append(0); i += 1; continue }
            if c == 0x28 { parenDepth[parenDepth.count - 1] += 1 }
            if c == 0x29 {
                if parenDepth.last! == 0 && stack.count > 1 { stack.removeLast(); parenDepth.removeLast(); i += 1; continue }
                parenDepth[parenDepth.count - 1] -= 1
            }
            if isIdent(c) || c == 0x24 {
                let start = i
                i += 1
                while i < b.count && isIdent(b[i]) { i += 1 }
                // `a::b` module-qualified names and `.field` accesses are not builtins.
                let prev: UInt8 = start > 0 ? b[start - 1] : 0x20
                let next: UInt8 = i < b.count ? b[i] : 0x20
                if prev == 0x2E || prev == 0x3A || next == 0x3A { continue }
                // An object key (`{input: …}`) names a field, not a builtin.
                var j = i
                while j < b.count && (b[j] == 0x20 || b[j] == 0x09 || b[j] == 0x0A || b[j] == 0x0D) { j += 1 }
                if j < b.count && b[j] == 0x3A && (j + 1 >= b.count || b[j + 1] != 0x3A) { continue }
                let word = String(decoding: b[start..<i], as: UTF8.self)
                if let why = forbidden[word] {
                    out.append(Violation(line: line, message: "`\(word)` is not allowed in rules (\(why))"))
                }
                continue
            }
            i += 1
        }
        return out
    }
}
