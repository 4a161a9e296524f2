#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CJQ

// Ownership: every `jv_*` function consumes its `jv` arguments except
// `jv_copy`, `jv_get_kind`, `jv_string_value`, `jv_number_value` and the
// `jv_object_iter*` family. These helpers follow one rule: a function whose
// parameter is named `owned` consumes it; every other `jv` parameter is
// borrowed (the helper copies before handing it to libjq).
//
// libjq 1.6 `assert`s — aborting the process — when an accessor meets the
// wrong kind, so every accessor here checks the kind first.
//
// A `jv`'s reference count is not atomic: a `jv` never leaves the thread that
// made it. Values cross threads only as bytes.

enum JV {
    @inline(__always) static func kind(_ v: jv) -> jv_kind { jv_get_kind(v) }
    @inline(__always) static func isObject(_ v: jv) -> Bool { jv_get_kind(v) == JV_KIND_OBJECT }
    @inline(__always) static func isArray(_ v: jv) -> Bool { jv_get_kind(v) == JV_KIND_ARRAY }
    @inline(__always) static func isString(_ v: jv) -> Bool { jv_get_kind(v) == JV_KIND_STRING }

    /// A JSON string value from Swift text.
    static func string(_ s: String) -> jv {
        var s = s
        return s.withUTF8 { buf in
            buf.withMemoryRebound(to: CChar.self) { jv_string_sized($0.baseAddress, Int32($0.count)) }
        }
    }

    /// `object[key]`, or null when `object` is not an object or has no such key
    /// (libjq returns an *invalid* value for a missing key, which would abort
    /// the process if it reached the printer). The result is owned.
    static func get(_ object: jv, _ key: String) -> jv {
        guard isObject(object) else { return jv_null() }
        let v = jv_object_get(jv_copy(object), string(key))
        if jv_get_kind(v) == JV_KIND_INVALID { jv_free(v); return jv_null() }
        return v
    }

    /// Sets `object[key] = value`, consuming `owned` object and value.
    static func set(owned object: jv, _ key: String, owned value: jv) -> jv {
        jv_object_set(object, string(key), value)
    }

    /// Swift text of a string value (borrowed), nil for other kinds.
    static func text(_ v: jv) -> String? {
        guard isString(v) else { return nil }
        let n = Int(jv_string_length_bytes(jv_copy(v)))
        guard let p = jv_string_value(v) else { return "" }
        return p.withMemoryRebound(to: UInt8.self, capacity: n) {
            String(decoding: UnsafeBufferPointer(start: $0, count: n), as: UTF8.self)
        }
    }

    static func number(_ v: jv) -> Double? {
        jv_get_kind(v) == JV_KIND_NUMBER ? jv_number_value(v) : nil
    }

    static func arrayCount(_ v: jv) -> Int {
        isArray(v) ? Int(jv_array_length(jv_copy(v))) : 0
    }

    /// Element `i` of an array (owned result), null when out of range.
    static func element(_ array: jv, _ i: Int) -> jv {
        guard isArray(array) else { return jv_null() }
        let v = jv_array_get(jv_copy(array), Int32(i))
        if jv_get_kind(v) == JV_KIND_INVALID { jv_free(v); return jv_null() }
        return v
    }

    /// Calls `body` with a C pointer and length for raw bytes (never nil, even when empty).
    static func withChars<T>(_ raw: UnsafeRawBufferPointer, _ body: (UnsafePointer<CChar>, Int32) -> T) -> T {
        if let b = raw.baseAddress, raw.count > 0 { return body(b.assumingMemoryBound(to: CChar.self), Int32(raw.count)) }
        return "".withCString { body($0, 0) }
    }

    /// A string value from bytes (owned); libjq replaces invalid UTF-8.
    static func string(bytes: [UInt8]) -> jv {
        bytes.withUnsafeBytes { raw in withChars(raw) { jv_string_sized($0, $1) } }
    }

    /// Parsed JSON when the bytes are JSON, else the bytes as a string (owned).
    static func jsonOrString(_ bytes: [UInt8]) -> jv {
        bytes.withUnsafeBytes { raw in
            withChars(raw) { p, n in
                let v = jv_parse_sized(p, n)
                if jv_get_kind(v) != JV_KIND_INVALID { return v }
                jv_free(v)
                return jv_string_sized(p, n)
            }
        }
    }

    /// Parses JSON text into a `jv` (owned). Input must already be valid UTF-8:
    /// libjq would silently replace bad bytes, and we would rather say so.
    static func parse(_ bytes: UnsafeRawBufferPointer) throws(RuleInputError) -> jv {
        if let offset = UTF8Check.firstInvalidByte(bytes) {
            throw .invalidUTF8(byteOffset: offset)
        }
        guard bytes.count < Int(Int32.max) else { throw .tooLarge(bytes: bytes.count) }
        let v = withChars(bytes) { jv_parse_sized($0, $1) }
        if jv_get_kind(v) == JV_KIND_INVALID {
            throw .malformedJSON(message: invalidMessage(owned: v))
        }
        return v
    }

    static func parse(_ bytes: [UInt8]) throws(RuleInputError) -> jv {
        do {
            return try bytes.withUnsafeBytes { (raw) throws(RuleInputError) -> jv in try parse(raw) }
        } catch let e as RuleInputError { throw e } catch { fatalError("unreachable") }
    }

    /// The message of an invalid value, consuming it. libjq's parse errors
    /// quote the whole input ("… (while parsing '<60 KB>')"): that tail is cut,
    /// so a request body never reaches a log line or an error reply.
    static func invalidMessage(owned v: jv) -> String {
        let msg = jv_invalid_get_msg(v)
        defer { jv_free(msg) }
        var text: String
        if let s = JV.text(msg) { text = s } else if jv_get_kind(msg) == JV_KIND_NULL { text = "invalid value" } else { text = JSONWriter.string(msg) }
        if let r = text.firstRange(of: " (while parsing") { text = String(text[..<r.lowerBound]) }
        if text.utf8.count > 500 { text = String(text.prefix(500)) + "…" }
        return text
    }

    /// Compact JSON text of a borrowed value, as libjq prints it (for tests and diagnostics).
    static func dumpWithLibjq(_ v: jv, pretty: Bool = false) -> String {
        let flags: Int32 = pretty ? (2 << 8 | Int32(JV_PRINT_PRETTY.rawValue)) : 0
        let s = jv_dump_string(jv_copy(v), flags)
        defer { jv_free(s) }
        return text(s) ?? ""
    }
}

/// A `jv` held across calls on one rule thread (the stream fold's state, a
/// parsed client request). `@unchecked Sendable` only so that the object can be
/// *referenced* from the session that owns it; its value is read and written
/// exclusively by jobs running on `thread`.
///
/// The last reference may fall anywhere — a server task dropping an
/// `Exchange`, a rule thread finishing a job — so the cell never frees its
/// value where it dies: it hands the value to its thread to free there.
/// (Freeing off the thread raced libjq's non-atomic counts of the strings an
/// IR shares with the compiled program: `RealRulesTests
/// .droppedExchangesReleaseTheirValuesOnTheirRuleThread`.)
///
/// Debug builds check the rule: the first thread to touch the cell owns it,
/// and any other thread touching it stops the process there, naming the
/// cell, instead of corrupting a count that fails somewhere else much later.
final class JVCell: @unchecked Sendable {
    private var stored: jv = jv_null()
    private let thread: RuleThread
    /// The value, borrowed (set it with `replace`).
    var value: jv { checkOwner(); return stored }
    /// An empty (null) cell whose value lives on `thread`.
    init(on thread: RuleThread) { self.thread = thread }
    func replace(owned v: jv) { checkOwner(); jv_free(stored); stored = v }
    deinit {
        // Null, booleans and numbers carry no count; the rest is freed on the thread.
        switch jv_get_kind(stored) {
        case JV_KIND_NULL, JV_KIND_TRUE, JV_KIND_FALSE, JV_KIND_NUMBER: return
        default:
            let v = stored
            thread.submit { _ in jv_free(v) }
        }
    }

    #if DEBUG
    private var owner: pthread_t? = nil
    private func checkOwner() {
        let me = pthread_self()
        guard let owner else { owner = me; return }
        precondition(pthread_equal(owner, me) != 0, "a JVCell was touched by a second thread (libjq's counts are not atomic)")
    }
    #else
    @inline(__always) private func checkOwner() {}
    #endif
}

/// Fast first-invalid-byte check for UTF-8 (ASCII runs take the fast path).
enum UTF8Check {
    static func firstInvalidByte(_ b: UnsafeRawBufferPointer) -> Int? {
        let n = b.count
        var i = 0
        while i < n {
            let c = b[i]
            if c < 0x80 { i += 1; continue }
            var need = 0
            var min: UInt32 = 0
            var cp: UInt32 = 0
            if c & 0xE0 == 0xC0 { need = 1; cp = UInt32(c & 0x1F); min = 0x80 }
            else if c & 0xF0 == 0xE0 { need = 2; cp = UInt32(c & 0x0F); min = 0x800 }
            else if c & 0xF8 == 0xF0 { need = 3; cp = UInt32(c & 0x07); min = 0x10000 }
            else { return i }
            for k in 1...need {
                guard i + k < n else { return i }
                let d = b[i + k]
                if d & 0xC0 != 0x80 { return i }
                cp = cp << 6 | UInt32(d & 0x3F)
            }
            if cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) { return i }
            i += need + 1
        }
        return nil
    }
}
