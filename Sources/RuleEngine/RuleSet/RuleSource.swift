#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a `Rules/` folder holds, read from disk: the dialects (one folder
/// each, with the four modules of the contract in `Rules/README.md`) and the
/// text of every rule file, checked against the source policy.
///
/// From it come the programs every worker compiles, a few per dialect (see
/// `programs(for:)`). Swift only knows the module and definition names of the
/// contract, never a dialect's fields.
public struct RuleSource: Sendable {
    /// The modules every dialect folder must provide, with their definitions.
    public static let contract: [(module: String, defs: [String])] = [
        ("request", ["decode", "encode", "passthrough"]),
        ("response", ["decode", "encode"]),
        ("stream", ["decode", "encode"]),
        ("error", ["decode", "encode"]),
    ]

    /// Modules a dialect may add for the server's other endpoints: token
    /// counting and model lists. A dialect without them cannot serve those.
    public static let optional: [(module: String, defs: [String])] = [
        ("count", ["decode_request", "encode", "decode", "encode_reply"]),
        ("models", ["encode", "encode_one"]),
    ]

    /// The rules folder the files were read from.
    public let root: String
    /// A private copy of exactly the files read, which every compile of this
    /// rule set imports from: libjq reads imported modules from disk when it
    /// compiles, and workers compile some dialects after the set was built,
    /// so without the copy an edit made meanwhile could slip into a set that
    /// was validated without it. Removed with the last reference (`Snapshot`).
    let snapshot: Snapshot
    public let dialects: [String]
    /// Every `.jq` file under `root`, relative path → text.
    public let files: [String: String]
    /// Every `providers/*.json` under `root`, relative path → text.
    public let providerFiles: [String: String]
    /// Per dialect, from `<dialect>/dialect.json`: which top-level keys of a
    /// request hold the model and the stream flag, which request header
    /// marks a client of this dialect on a shared endpoint, and which
    /// top-level key of a reply, when not null, makes it an error
    /// (`Rules/README.md`).
    public let passthroughKeys: [String: PassthroughKeys]
    /// Provider patch modules (`providers/<name>.jq`) and the hooks each defines.
    public let patches: [String: Set<String>]
    /// Every `.jq` file → the module paths its `import`/`include` lines name
    /// (scanned once per load: program grouping and keys walk them often).
    let imports: [String: [String]]

    public struct PassthroughKeys: Sendable, Equatable {
        public var model: String?
        public var stream: String?
        public var clientHeader: String? = nil
        public var error: String? = nil
    }

    /// Reads `root` (made absolute). Throws when a dialect folder lacks a
    /// module, or when a rule file breaks the source policy.
    public static func load(root: String) throws(RuleCompileError) -> RuleSource {
        let abs = FileSystem.absolute(root)
        guard FileSystem.isDirectory(abs) else { throw RuleCompileError(["rules folder not found: \(abs)"]) }
        var files: [String: String] = [:]
        var providerFiles: [String: String] = [:]
        var passthroughKeys: [String: PassthroughKeys] = [:]
        for rel in FileSystem.walk(abs) where rel.hasSuffix("/dialect.json") {
            let d = String(rel.dropLast("/dialect.json".count))
            guard let bytes = FileSystem.readBytes(abs + "/" + rel), let scan = JSONScan(bytes, keys: ["model_key", "stream_key", "client_header", "error_key"]), scan.isObject else {
                throw RuleCompileError(["\(rel): not a JSON object"])
            }
            passthroughKeys[d] = PassthroughKeys(model: scan.string("model_key"), stream: scan.string("stream_key"), clientHeader: scan.string("client_header"),
                                                 error: scan.string("error_key"))
        }
        for rel in FileSystem.walk(abs) where rel.hasSuffix(".jq") || (rel.hasPrefix("providers/") && rel.hasSuffix(".json")) {
            guard let text = FileSystem.readText(abs + "/" + rel) else { throw RuleCompileError(["cannot read \(rel)"]) }
            if rel.hasSuffix(".json") { providerFiles[rel] = text } else { files[rel] = text }
        }
        var problems: [String] = []
        for (rel, text) in files.sorted(by: { $0.key < $1.key }) {
            problems += SourcePolicy.violations(in: text).map { "\(rel):\($0.line): \($0.message)" }
        }
        var dialects: [String] = []
        for name in FileSystem.list(abs).sorted() where FileSystem.isDirectory(abs + "/" + name) && name != "lib" && name != "providers" && !name.hasPrefix(".") {
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
        let snapshot = try Snapshot(files: files.merging(providerFiles, uniquingKeysWith: { a, _ in a }))
        return RuleSource(root: abs, snapshot: snapshot, dialects: dialects, files: files, providerFiles: providerFiles,
                          passthroughKeys: passthroughKeys, patches: findPatchHooks(files), imports: files.mapValues(importedPaths))
    }

    /// The programs of one dialect (see `ProgramUnit`): its contract modules
    /// grouped so that modules importing one another compile together, one
    /// program per patch module of its providers, and the token estimate.
    /// Each program's input is `{op, ctx, body}` and it has one output; each
    /// definition runs under `_at`, which turns any error into
    /// `{rule, message}` naming the module and definition (the `[ try … ]`
    /// form keeps jq 1.6 from catching errors of later stages in an earlier
    /// stage's `try`).
    ///
    /// Several small programs rather than one per dialect: libjq 1.6's compile
    /// time grows faster than the program (every builtin is re-bound against
    /// the whole program), so a reload that changes `claude/response.jq`
    /// compiles only the program holding it — about a fifth of the whole
    /// dialect's compile (docs/RELIABILITY.md, "Reload under load"). A
    /// translation still composes programs on one worker thread, handing the
    /// IR over as a `jv`, never as text.
    public func programs(for dialect: String) -> [ProgramUnit] {
        let modules = (Self.contract + Self.optional).filter { files["\(dialect)/\($0.module).jq"] != nil }
        let names = modules.map(\.module)
        // Union-find over the dialect's modules: join two when one reaches the
        // other through its imports; `collect_response` needs response and error.
        var parent = Dictionary(uniqueKeysWithValues: names.map { ($0, $0) })
        func root(_ m: String) -> String { var m = m; while parent[m]! != m { m = parent[m]! }; return m }
        func join(_ a: String, _ b: String) { parent[root(a)] = root(b) }
        for m in names {
            for reached in importClosure(of: ["\(dialect)/\(m)"]) where reached.hasPrefix(dialect + "/") && reached.hasSuffix(".jq") {
                let other = String(reached.dropFirst(dialect.count + 1).dropLast(3))
                if names.contains(other) && other != m { join(m, other) }
            }
        }
        if names.contains("response") && names.contains("error") { join("response", "error") }
        var groups: [[(module: String, defs: [String])]] = []
        var groupOf: [String: Int] = [:]
        for (m, defs) in modules {
            let r = root(m)
            if let g = groupOf[r] { groups[g].append((m, defs)) } else { groupOf[r] = groups.count; groups.append([(m, defs)]) }
        }
        var out = groups.map { moduleProgram(dialect, $0) }
        out += providerPatches(for: dialect).map { patchProgram($0) }
        out.append(estimateProgram())
        return out
    }

    /// The definitions every program starts with.
    private static let prelude = """
    def _at($rule; f): [try f catch error({rule: $rule, message: .})]
      | if length == 1 then .[0]
        elif length == 0 then error({rule: $rule, message: "produced no output"})
        else error({rule: $rule, message: "produced \\(length) outputs, expected one"}) end;
    .ctx as $ctx | .op as $op | .body

    """

    private static let unknownOperation = #"  else error({rule: "dispatcher", message: "unknown operation \($op)"}) end"# + "\n"

    /// Some contract modules of a dialect, with their `<def>_<module>` operations.
    private func moduleProgram(_ dialect: String, _ group: [(module: String, defs: [String])]) -> ProgramUnit {
        let has = Set(group.map(\.module))
        var s = ""
        var imports: [String] = []
        for (m, _) in group { s += "import \"\(dialect)/\(m)\" as \(m);\n"; imports.append("\(dialect)/\(m)") }
        let overrides = has.contains("request") && files["lib/overrides.jq"] != nil
        let collect = has.contains("response") && has.contains("error")
        let hasCollect = files["lib/collect.jq"] != nil
        if overrides { s += "import \"lib/overrides\" as lib_overrides;\n"; imports.append("lib/overrides") }
        if collect && hasCollect { s += "import \"lib/collect\" as lib_collect;\n"; imports.append("lib/collect") }
        s += Self.prelude
        if overrides { s += "| (if $op == \"encode_request\" then _at(\"lib/overrides::request\"; lib_overrides::request($ctx)) else . end)\n" }
        s += "| if false then .\n"
        var ops: [String] = []
        for (m, defs) in group {
            for def in defs {
                s += "  elif $op == \"\(def)_\(m)\" then _at(\"\(dialect)/\(m)::\(def)\"; \(m)::\(def)($ctx))\n"
                ops.append("\(def)_\(m)")
            }
        }
        if collect {
            s += """
              elif $op == "collect_response" then
                _at("lib/collect::collect"; \(hasCollect ? "lib_collect::collect" : "error(\"Rules/lib/collect.jq is missing\")"))
                | if .error then (.error | _at("\(dialect)/error::encode"; error::encode($ctx)))
                  else {status: 200, headers: {}, body: _at("\(dialect)/response::encode"; response::encode($ctx))} end

            """
            ops.append("collect_response")
        }
        s += Self.unknownOperation
        return ProgramUnit(name: dialect + "/" + group.map(\.module).joined(separator: "+"), operations: ops, text: s,
                           files: importClosure(of: imports))
    }

    /// One provider patch module: `patch_<hook>:<name>` for each hook it
    /// defines; `event` maps over the batch's events (an event may become
    /// none or several).
    private func patchProgram(_ name: String) -> ProgramUnit {
        let alias = Self.patchAlias(name)
        var s = "import \"providers/\(name)\" as \(alias);\n" + Self.prelude + "| if false then .\n"
        var ops: [String] = []
        for hook in (patches[name] ?? []).sorted() {
            let call = hook == "event" ? "[.[] | \(alias)::event($ctx)]" : "\(alias)::\(hook)($ctx)"
            s += "  elif $op == \"patch_\(hook):\(name)\" then _at(\"providers/\(name)::\(hook)\"; \(call))\n"
            ops.append("patch_\(hook):\(name)")
        }
        s += Self.unknownOperation
        return ProgramUnit(name: "providers/" + name, operations: ops, text: s, files: importClosure(of: ["providers/" + name]))
    }

    /// The token estimate of `lib/estimate.jq`, the same for every dialect
    /// (so compiled once per thread: equal programs share one key).
    private func estimateProgram() -> ProgramUnit {
        let has = files["lib/estimate.jq"] != nil
        let s = (has ? "import \"lib/estimate\" as lib_estimate;\n" : "") + Self.prelude + """
        | if $op == "estimate_count" then _at("lib/estimate::estimate_tokens"; \(has ? "lib_estimate::estimate_tokens" : "error(\"Rules/lib/estimate.jq is missing\")"))

        """ + Self.unknownOperation
        return ProgramUnit(name: "lib/estimate", operations: ["estimate_count"], text: s, files: has ? importClosure(of: ["lib/estimate"]) : [])
    }

    /// The rule files (relative paths) that modules `paths` (as imported:
    /// `claude/request`) reach through their `import`/`include` statements,
    /// themselves included.
    func importClosure(of paths: [String]) -> [String] {
        var seen: Set<String> = []
        var todo = paths
        while let p = todo.popLast() {
            // jq 1.6 finds `import "a/b"` as a/b.jq, a/b/b.jq, or a/b.json (data).
            let last = p.split(separator: "/").last.map(String.init) ?? p
            for rel in [p + ".jq", p + "/" + last + ".jq", p + ".json"] where !seen.contains(rel) {
                if let named = imports[rel] {
                    seen.insert(rel)
                    todo += named
                } else if providerFiles[rel] != nil {
                    seen.insert(rel)
                }
            }
        }
        return seen.sorted()
    }

    /// The paths a jq module names in its `import "…"` and `include "…"`
    /// directives (which jq 1.6 allows only at the top of a module, one per
    /// statement). A deliberately small scanner: comment lines are skipped,
    /// and a path the scanner misses only makes a reload compile less — so it
    /// errs towards finding too many (any directive-looking line counts).
    static func importedPaths(_ text: String) -> [String] {
        var out: [String] = []
        for line in text.split(separator: "\n") {
            let t = line.drop(while: { $0 == " " || $0 == "\t" })
            guard t.hasPrefix("import \"") || t.hasPrefix("include \"") else { continue }
            let rest = t.drop(while: { $0 != "\"" }).dropFirst()
            guard let end = rest.firstIndex(of: "\"") else { continue }
            out.append(String(rest[..<end]))
        }
        return out
    }
}

/// One jq program of a rule set: the text compiled, the operations it
/// answers, and the rule files it reads — whose content, with the text,
/// makes its key (`ProgramKeys`), so a reload recompiles it only when one
/// of them changed.
public struct ProgramUnit: Sendable {
    /// `claude/response+error+stream`, `providers/codex`, `lib/estimate`: for logs.
    public let name: String
    /// The `op` values it dispatches on.
    public let operations: [String]
    let text: String
    /// Relative paths of the rule files it imports, directly or not.
    let files: [String]
}

extension RuleSource {
    /// The definitions a provider patch module may offer, each run by the
    /// server at one point of an upstream call (`Rules/providers/README.md`):
    /// `request` and `headers` on the encoded upstream body, `response` on the
    /// upstream's reply body, `event` on each upstream stream event,
    /// `count_request` / `count_reply` around token counting, and `error` on
    /// an upstream error (`{status, headers, body}`) before it is decoded.
    public static let patchHooks = ["request", "headers", "response", "event", "count_request", "count_reply", "error"]

    /// The hooks each patch module defines (module name → hook names), found
    /// by their `def <hook>($ctx):` in the module's text (`patches`).
    static func findPatchHooks(_ files: [String: String]) -> [String: Set<String>] {
        var out: [String: Set<String>] = [:]
        for (rel, text) in files where rel.hasPrefix("providers/") && rel.hasSuffix(".jq") {
            let name = String(rel.dropFirst("providers/".count).dropLast(".jq".count))
            let defs = Set(Self.patchHooks.filter { text.contains("def \($0)($ctx)") || text.contains("def \($0)($ctx;") })
            if !defs.isEmpty { out[name] = defs }
        }
        return out
    }

    /// A patch module's jq alias: its name with `-` made `_` (`gemini-cli` → `patch_gemini_cli`).
    static func patchAlias(_ name: String) -> String {
        "patch_" + String(name.map { $0 == "-" ? "_" : $0 })
    }

    /// Provider patch modules (`Rules/providers/<name>.jq`) that belong to a
    /// dialect: those a provider file of that dialect names in a `patch` key
    /// (top level, or in its `account` section). Read from the provider files'
    /// text with a deliberately small scanner (the server parses them fully);
    /// a patch is compiled into the program of its provider's dialect.
    func providerPatches(for dialect: String) -> [String] {
        var out: [String] = []
        for (_, text) in providerFiles.sorted(by: { $0.key < $1.key }) {
            guard let d = Self.jsonStrings(text, key: "dialect").first, d == dialect else { continue }
            for patch in Self.jsonStrings(text, key: "patch") where files["providers/\(patch).jq"] != nil && !out.contains(patch) {
                out.append(patch)
            }
        }
        return out
    }

    /// The string values of every `"key": "value"` in JSON text, in order.
    /// Values other than plain names (letters, digits, `_`, `-`) are skipped.
    static func jsonStrings(_ text: String, key: String) -> [String] {
        var out: [String] = []
        var from = text.startIndex
        while let r = text[from...].firstRange(of: "\"\(key)\"") {
            from = r.upperBound
            var rest = text[r.upperBound...].drop(while: { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" })
            guard rest.first == ":" else { continue }
            rest = rest.dropFirst().drop(while: { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" })
            guard rest.first == "\"" else { continue }
            rest = rest.dropFirst()
            guard let end = rest.firstIndex(of: "\"") else { break }
            let value = String(rest[..<end])
            if value.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }) { out.append(value) }
        }
        return out
    }
}

/// A private copy of a rule set's files in a temporary folder, removed when
/// the last rule set using it goes away.
final class Snapshot: Sendable {
    let path: String

    init(files: [String: String]) throws(RuleCompileError) {
        var template = Array("/tmp/cliproxy-rules-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw RuleCompileError(["cannot create a folder for the rules snapshot in /tmp"])
        }
        path = String(cString: made)
        for (rel, text) in files {
            let dest = path + "/" + rel
            FileSystem.makeDirectories(String(dest[..<dest.lastIndex(of: "/")!]))
            guard FileSystem.write(dest, text) else { throw RuleCompileError(["cannot write the rules snapshot \(dest)"]) }
        }
    }

    deinit { FileSystem.removeTree(path) }

    /// Compile messages name the snapshot's files: point them at the originals.
    func restore(_ message: String, root: String) -> String { message.replacing(path, with: root) }
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
