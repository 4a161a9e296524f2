import CJQ

/// One compiled jq program in one `jq_state`.
///
/// Deliberately not `Sendable`: a `jq_state` must never run on two threads at
/// once, and the `jv`s it returns may share constants with its bytecode. Each
/// worker thread compiles and owns its own instance (see `RuleWorkers`).
final class JQProgram {
    private var state: OpaquePointer?

    /// Collects libjq's compile messages through its C callback.
    private final class MessageSink { var messages: [String] = [] }
    private let sink = MessageSink()

    /// Compiles `source` with `libraryPaths` as the only module search path
    /// (libjq 1.6 aborts on `import` when no path is set, and its implicit "."
    /// is the process's working directory, so paths must be absolute).
    init(source: String, libraryPaths: [String]) throws(RuleCompileError) {
        guard let jq = jq_init() else { throw RuleCompileError(["jq_init failed (out of memory)"]) }
        state = jq
        jq_set_error_cb(jq, { ctx, msg in
            guard let ctx else { jv_free(msg); return }
            let sink = Unmanaged<MessageSink>.fromOpaque(ctx).takeUnretainedValue()
            let formatted = jq_format_error(msg)  // consumes msg
            sink.messages.append(JV.text(formatted) ?? "jq error")
            jv_free(formatted)
        }, Unmanaged.passUnretained(sink).toOpaque())
        var paths = jv_array()
        for p in libraryPaths { paths = jv_array_append(paths, JV.string(p)) }
        jq_set_attr(jq, JV.string("JQ_LIBRARY_PATH"), paths)
        let ok = source.withCString { jq_compile_args(jq, $0, jv_object()) }
        if ok == 0 {
            let messages = sink.messages.isEmpty ? ["jq: compile failed"] : sink.messages
            throw RuleCompileError(messages)
        }
        sink.messages.removeAll()
    }

    deinit {
        if state != nil { jq_teardown(&state) }
    }

    /// Runs the program on `input` (consumed) and returns its single output
    /// (owned). Zero outputs, several outputs, a runtime error or a halt all
    /// become a `RuleRuntimeError`; nothing here can abort the process.
    func run(owned input: jv) throws(RuleRuntimeError) -> jv {
        guard let jq = state else { jv_free(input); throw RuleRuntimeError(rule: "runtime", message: "program torn down") }
        jq_start(jq, input, 0)
        var result: jv? = nil
        var extra = 0
        while true {
            let v = jq_next(jq)
            if jv_get_kind(v) == JV_KIND_INVALID {
                if jv_invalid_has_msg(jv_copy(v)) != 0 {
                    if let r = result { jv_free(r) }
                    throw Self.runtimeError(owned: v)
                }
                jv_free(v)
                break
            }
            if result == nil { result = v } else { extra += 1; jv_free(v) }
        }
        if jq_halted(jq) != 0 {
            if let r = result { jv_free(r) }
            let msg = jq_get_error_message(jq)
            defer { jv_free(msg) }
            let text = JV.text(msg) ?? (jv_get_kind(msg) == JV_KIND_INVALID ? "halted" : JSONWriter.string(msg))
            throw RuleRuntimeError(rule: "runtime", message: "rule halted: \(text)")
        }
        guard let out = result else { throw RuleRuntimeError(rule: "runtime", message: "the rules produced no output") }
        if extra > 0 {
            jv_free(out)
            throw RuleRuntimeError(rule: "runtime", message: "the rules produced \(extra + 1) outputs, expected one")
        }
        return out
    }

    /// Maps an error value to a typed error. The dispatcher raises
    /// `{rule, message}` objects (see `RuleSetSource`); anything else is
    /// attributed to the dispatcher itself.
    private static func runtimeError(owned v: jv) -> RuleRuntimeError {
        let msg = jv_invalid_get_msg(v)
        defer { jv_free(msg) }
        if JV.isObject(msg) {
            let rule = JV.get(msg, "rule"), message = JV.get(msg, "message")
            defer { jv_free(rule); jv_free(message) }
            if let r = JV.text(rule) {
                let m = JV.text(message) ?? JSONWriter.string(message)
                return RuleRuntimeError(rule: r, message: String(m.prefix(2000)))
            }
        }
        let m = JV.text(msg) ?? JSONWriter.string(msg)
        return RuleRuntimeError(rule: "dispatcher", message: String(m.prefix(2000)))
    }
}
