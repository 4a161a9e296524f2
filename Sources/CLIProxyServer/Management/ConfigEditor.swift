import Accounts
import ProxyConfig
import RuleEngine
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Edits config.yaml text by byte ranges, using the source positions libyaml
/// reports (``YAMLNode/contentByteRange``), so that everything the edit does
/// not touch stays byte-identical: comments, key order, quoting, blank lines.
///
/// - A scalar that exists is replaced in place (only its own bytes change;
///   its quoting style is kept when the new value allows it).
/// - A list or mapping value is re-rendered as one block from its key to its
///   last entry (comments inside that block are lost; those around it stay).
/// - A missing key is appended: at the end of the file for a top-level key,
///   after the last entry of its parent mapping otherwise.
struct ConfigEditor {
    /// The current text.
    private(set) var text: String

    init(text: String) { self.text = text }

    /// Why an edit could not be made.
    struct EditError: Error, CustomStringConvertible {
        var description: String
    }

    /// Sets the value at `path` (mapping keys from the root) to `value`.
    mutating func set(_ path: [String], _ value: JSONValue) throws {
        precondition(!path.isEmpty)
        let doc: YAMLDocument
        do { doc = try YAMLDocument(parsing: text) } catch { throw EditError(description: "the config file is not valid YAML: \(error)") }
        guard let root = doc.root, !root.isNull else {
            append(Self.entry(path[0], Self.nest(Array(path.dropFirst()), value), indent: ""))
            return
        }
        guard let pairs = root.mapping, !root.isFlow else { throw EditError(description: "the config file's top level is not a block mapping") }
        try set(in: root, pairs: pairs, path: path[...], value: value, doc: doc, isRoot: true)
    }

    private mutating func set(in mapping: YAMLNode, pairs: [YAMLPair], path: ArraySlice<String>, value: JSONValue,
                              doc: YAMLDocument, isRoot: Bool) throws {
        let key = path.first!
        let rest = path.dropFirst()
        guard let pair = pairs.first(where: { $0.key.scalar?.value == key }) else {
            // Absent: a new entry in this mapping.
            let rendered = Self.nest(Array(rest), value)
            if isRoot {
                append(Self.entry(key, rendered, indent: ""))
            } else {
                let indent = String(repeating: " ", count: max(0, (pairs.first?.key.start.column ?? mapping.start.column) - 1))
                insertAfterLine(of: mapping.end.offset, Self.entry(key, rendered, indent: indent))
            }
            return
        }
        if pair.isMerged || pair.value.alias != nil || pair.value.anchor != nil {
            throw EditError(description: "`\(key)` comes from a YAML anchor or merge key; edit it in the file by hand")
        }
        let indent = String(repeating: " ", count: max(0, pair.key.start.column - 1))
        if !rest.isEmpty {
            if let childPairs = pair.value.mapping, !pair.value.isFlow, !childPairs.isEmpty {
                try set(in: pair.value, pairs: childPairs, path: rest, value: value, doc: doc, isRoot: false)
                return
            }
            // Null, empty or flow mapping: rewrite this key's block with the new child.
            var object = Self.json(pair.value).object ?? [:]
            var nested = JSONValue.object(object)
            nested.set(rest.joined(separator: "."), value)
            object = nested.object ?? [:]
            replacePair(pair, with: Self.entry(key, .object(object), indent: indent), doc: doc)
            return
        }
        if let scalarText = Self.scalarText(value, like: pair.value.scalar), let s = pair.value.scalar,
           s.style != .literal, s.style != .folded, !(s.style == .plain && s.value.isEmpty) {
            replace(pair.value.contentByteRange, with: scalarText)
        } else {
            replacePair(pair, with: Self.entry(key, value, indent: indent), doc: doc)
        }
    }

    // MARK: byte edits

    private mutating func replace(_ range: Range<Int>, with s: String) {
        var bytes = Array(text.utf8)
        bytes.replaceSubrange(range.clamped(to: 0..<bytes.count), with: Array(s.utf8))
        text = String(decoding: bytes, as: UTF8.self)
    }

    /// Replaces `key: value` (key start to value end) with `rendered` (which
    /// starts with the key; the indentation before it stays).
    private mutating func replacePair(_ pair: YAMLPair, with rendered: String, doc: YAMLDocument) {
        let bytes = Array(text.utf8)
        let start = pair.key.contentStart.offset
        var end = max(pair.key.end.offset, pair.value.end.offset)
        // An empty (null) value: its marks may sit on a later line; end right after the colon.
        if pair.value.isNull, pair.value.scalar?.value.isEmpty == true {
            var i = pair.key.end.offset
            while i < bytes.count, bytes[i] != UInt8(ascii: ":") { i += 1 }
            end = min(i + 1, bytes.count)
        }
        var replacement = rendered
        // A block scalar's range includes its line break(s); keep one.
        if end > start, bytes[end - 1] == 0x0A { replacement += "\n" }
        // The indentation before the key is already in the file.
        replace(start..<end, with: String(replacement.drop(while: { $0 == " " })))
    }

    /// Appends a top-level entry at the end of the file.
    private mutating func append(_ entry: String) {
        if !text.isEmpty && !text.hasSuffix("\n") { text += "\n" }
        text += entry + "\n"
    }

    /// Inserts `entry` (one or more full lines) after the line holding byte `offset`.
    private mutating func insertAfterLine(of offset: Int, _ entry: String) {
        let bytes = Array(text.utf8)
        var i = min(offset, bytes.count)
        if i > 0 && i <= bytes.count && bytes[i - 1] == 0x0A {
            // Already at a line start (a block scalar ended with its newline).
        } else {
            while i < bytes.count && bytes[i] != 0x0A { i += 1 }
            if i < bytes.count { i += 1 } else {
                text += "\n"
                text += entry + "\n"
                return
            }
        }
        replace(i..<i, with: entry + "\n")
    }

    // MARK: rendering

    /// `["a","b"], x` → `{"a":{"b":x}}`.
    static func nest(_ path: [String], _ value: JSONValue) -> JSONValue {
        path.reversed().reduce(value) { v, k in .object([k: v]) }
    }

    /// Preferred field order inside list entries; other keys follow sorted.
    static let fieldOrder = ["name", "api-key", "base-url", "proxy-url", "prefix", "api-keys", "models", "alias", "headers"]

    static func orderedKeys(_ o: [String: JSONValue]) -> [String] {
        let known = fieldOrder.filter { o[$0] != nil }
        return known + o.keys.filter { !fieldOrder.contains($0) }.sorted()
    }

    /// `key: value` as block YAML at `indent` (no trailing newline; the first
    /// line carries the indentation too).
    static func entry(_ key: String, _ value: JSONValue, indent: String) -> String {
        let k = indent + keyText(key) + ":"
        switch value {
        case .array(let items) where !items.isEmpty:
            return k + "\n" + items.map { item(  $0, indent: indent + "  ") }.joined(separator: "\n")
        case .object(let o) where !o.isEmpty:
            return k + "\n" + orderedKeys(o).map { entry($0, o[$0]!, indent: indent + "  ") }.joined(separator: "\n")
        default:
            return k + " " + flow(value)
        }
    }

    /// `- value` at `indent`.
    static func item(_ value: JSONValue, indent: String) -> String {
        switch value {
        case .object(let o) where !o.isEmpty:
            let lines = orderedKeys(o).map { entry($0, o[$0]!, indent: indent + "  ") }.joined(separator: "\n")
            return indent + "- " + lines.dropFirst(indent.count + 2)
        default:
            return indent + "- " + flow(value)
        }
    }

    /// A value in flow style (JSON-compatible YAML).
    static func flow(_ value: JSONValue) -> String {
        switch value {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .number(let n): return n.rounded() == n && abs(n) < 9e15 ? String(Int64(n)) : String(n)
        case .string(let s): return YAMLDocument.quoted(s)
        case .array(let a): return "[" + a.map(flow).joined(separator: ", ") + "]"
        case .object(let o): return "{" + orderedKeys(o).map { keyText($0) + ": " + flow(o[$0]!) }.joined(separator: ", ") + "}"
        }
    }

    static func keyText(_ k: String) -> String {
        let plain = !k.isEmpty && k.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x2D || c == 0x5F || c == 0x2E
        }
        return plain ? k : YAMLDocument.quoted(k)
    }

    /// The text of a scalar value written where `old` was: plain or single
    /// quotes kept when the new value can be written that way, else double
    /// quotes. Nil for collections.
    static func scalarText(_ value: JSONValue, like old: YAMLScalar?) -> String? {
        switch value {
        case .array, .object: return nil
        case .string(let s):
            switch old?.style {
            case .plain?:
                let safe = !s.isEmpty && s.utf8.allSatisfy { c in
                    (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || "$./_-+".utf8.contains(c)
                }
                if safe, YAMLScalar(s).resolved == .string(s), !s.hasPrefix("-") { return s }
            case .singleQuoted?:
                if !s.contains("'"), s.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F }) { return "'" + s + "'" }
            default: break
            }
            return YAMLDocument.quoted(s)
        default:
            return flow(value)
        }
    }

    /// A YAML node as JSON (scalars resolved), for re-rendering a small block.
    static func json(_ node: YAMLNode) -> JSONValue {
        switch node.content {
        case .mapping(let pairs):
            var o: [String: JSONValue] = [:]
            for p in pairs { if let k = p.key.string { o[k] = json(p.value) } }
            return .object(o)
        case .sequence(let items): return .array(items.map(json))
        case .scalar(let s):
            switch s.resolved {
            case .null: return .null
            case .bool(let b): return .bool(b)
            case .int(let i): return .number(Double(i))
            case .float(let d): return .number(d)
            case .string(let t): return .string(t)
            }
        }
    }
}

/// Reads and writes config.yaml for the management API: one writer at a
/// time (process-wide), each write atomic (a temporary file in the same
/// folder with the original's permissions, flushed, renamed over it).
enum ConfigFile {
    private static let lock = Mutex<Void>(())

    /// Runs `body` while holding the writers' lock.
    static func withLock<T>(_ body: () throws -> T) rethrows -> T {
        try lock.withLock { _ in try body() }
    }

    /// The file's text, nil when it cannot be read or is not UTF-8.
    static func read(_ path: String) -> String? {
        guard let bytes = FileSystem.readBytes(path) else { return nil }
        return String(validating: bytes, as: UTF8.self)
    }

    /// Writes `text` to `path` atomically, keeping the file's mode (0600 for a new file).
    static func write(_ path: String, _ text: String) throws {
        var st = stat()
        let mode: mode_t = stat(path, &st) == 0 ? st.st_mode & 0o7777 : 0o600
        if let why = AtomicFile.write(path, Array(text.utf8), mode: mode) {
            throw ConfigEditor.EditError(description: "cannot write \(path): \(why)")
        }
    }
}
