// A YAML tree built from libyaml's event API, with exact source positions.
//
// Every node records where it starts and ends in the source — line and column
// for messages, UTF-8 byte offsets for edits — so a caller can replace one
// scalar's text in the file and keep every comment and the key order intact.

import CYAML

// MARK: - Positions

/// A position in the YAML source.
public struct YAMLMark: Sendable, Hashable, CustomStringConvertible {
    /// 1-based line number.
    public var line: Int
    /// 1-based column, counted in Unicode scalars (characters as libyaml counts them).
    public var column: Int
    /// 0-based offset in the UTF-8 bytes of the source text (a leading byte-order mark counts).
    public var offset: Int

    public init(line: Int, column: Int, offset: Int) {
        self.line = line
        self.column = column
        self.offset = offset
    }

    /// `line 3, column 7`
    public var description: String { "line \(line), column \(column)" }
}

// MARK: - Scalars

/// A scalar's text and how it was written.
public struct YAMLScalar: Sendable, Hashable {
    /// How the scalar was written in the source.
    public enum Style: Sendable, Hashable {
        /// `port: 8080` — unquoted; its type is resolved from its text (int, bool, null, float, string).
        case plain
        /// `'text'`
        case singleQuoted
        /// `"text"`
        case doubleQuoted
        /// `|` block
        case literal
        /// `>` block
        case folded
    }

    /// The scalar's value after YAML unescaping and line folding.
    public var value: String
    public var style: Style
    /// The resolved tag when one was written (`!!str 8080` gives `tag:yaml.org,2002:str`), else nil.
    public var tag: String?

    public init(_ value: String, style: Style = .plain, tag: String? = nil) {
        self.value = value
        self.style = style
        self.tag = tag
    }

    /// True unless the scalar was written plain (quoted and block scalars are always strings).
    public var isQuoted: Bool { style != .plain }

    /// The scalar's typed value, following the YAML 1.2 core schema:
    /// a plain scalar is null (`~`, `null`, empty), a bool (`true`/`false`), an int
    /// (decimal, `0x`, `0o`, `0b`, `_` separators allowed), a float, or else a string;
    /// quoted and block scalars are strings. An explicit tag (`!!str`, `!!int`, `!!bool`,
    /// `!!float`, `!!null`, `!`) overrides the style; an unknown tag gives a string.
    public var resolved: YAMLValue {
        switch tag {
        case nil:
            return style == .plain ? Self.resolvePlain(value) : .string(value)
        case "!", YAMLTag.str:
            return .string(value)
        case YAMLTag.null:
            return .null
        case YAMLTag.bool:
            return Self.parseBool(value).map(YAMLValue.bool) ?? .string(value)
        case YAMLTag.int:
            return Self.parseInt(value).map(YAMLValue.int) ?? .string(value)
        case YAMLTag.float:
            return (Self.parseInt(value).map(Double.init) ?? Self.parseFloat(value)).map(YAMLValue.float) ?? .string(value)
        default:
            return .string(value)
        }
    }

    static func resolvePlain(_ s: String) -> YAMLValue {
        if isNullText(s) { return .null }
        if let b = parseBool(s) { return .bool(b) }
        if let i = parseInt(s) { return .int(i) }
        if let d = parseFloat(s) { return .float(d) }
        return .string(s)
    }

    static func isNullText(_ s: String) -> Bool {
        s.isEmpty || s == "~" || s == "null" || s == "Null" || s == "NULL"
    }

    static func parseBool(_ s: String) -> Bool? {
        switch s {
        case "true", "True", "TRUE": return true
        case "false", "False", "FALSE": return false
        default: return nil
        }
    }

    /// Decimal with optional sign, or `0x` / `0o` / `0b` with optional sign; `_` separators are ignored.
    static func parseInt(_ text: String) -> Int? {
        var s = Substring(text)
        var negative = false
        if let f = s.first, f == "+" || f == "-" { negative = f == "-"; s = s.dropFirst() }
        var radix = 10
        if s.count > 2, s.first == "0", let p = s.dropFirst().first {
            switch p {
            case "x", "X": radix = 16
            case "o", "O": radix = 8
            case "b", "B": radix = 2
            default: break
            }
            if radix != 10 { s = s.dropFirst(2) }
        }
        guard let first = s.first, first != "_" else { return nil }
        let digits = s.filter { $0 != "_" }
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isHexDigit }) else { return nil }
        // Parse the magnitude as UInt so Int.min round-trips.
        guard let magnitude = UInt(digits, radix: radix) else { return nil }
        if negative {
            if magnitude == UInt(Int.max) + 1 { return Int.min }
            guard magnitude <= UInt(Int.max) else { return nil }
            return -Int(magnitude)
        }
        guard magnitude <= UInt(Int.max) else { return nil }
        return Int(magnitude)
    }

    /// `1.5`, `-2e3`, `.5`, `.inf`, `-.inf`, `.nan` (YAML 1.2 core float).
    static func parseFloat(_ s: String) -> Double? {
        switch s {
        case ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF": return .infinity
        case "-.inf", "-.Inf", "-.INF": return -.infinity
        case ".nan", ".NaN", ".NAN": return .nan
        default: break
        }
        var it = Substring(s)
        if let f = it.first, f == "+" || f == "-" { it = it.dropFirst() }
        let mantissaEnd = it.firstIndex(where: { $0 == "e" || $0 == "E" }) ?? it.endIndex
        let mantissa = it[..<mantissaEnd]
        let parts = mantissa.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        let isDigits = { (p: Substring) in p.allSatisfy { $0.isASCII && $0.isNumber } }
        guard parts.allSatisfy(isDigits), parts.contains(where: { !$0.isEmpty }) else { return nil }
        if mantissaEnd != it.endIndex {
            var exp = it[it.index(after: mantissaEnd)...]
            if let f = exp.first, f == "+" || f == "-" { exp = exp.dropFirst() }
            guard !exp.isEmpty, isDigits(exp) else { return nil }
        }
        return Double(s)
    }
}

/// A scalar's typed value (see ``YAMLScalar/resolved``).
public enum YAMLValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(String)
}

/// The standard tags, as libyaml reports them once `!!` is expanded.
public enum YAMLTag {
    public static let str = "tag:yaml.org,2002:str"
    public static let int = "tag:yaml.org,2002:int"
    public static let bool = "tag:yaml.org,2002:bool"
    public static let float = "tag:yaml.org,2002:float"
    public static let null = "tag:yaml.org,2002:null"
    public static let merge = "tag:yaml.org,2002:merge"
    public static let map = "tag:yaml.org,2002:map"
    public static let seq = "tag:yaml.org,2002:seq"
}

// MARK: - Nodes

/// One entry of a mapping.
public struct YAMLPair: Sendable, Equatable {
    public var key: YAMLNode
    public var value: YAMLNode
    /// True when the entry came from a `<<` merge key rather than being written in this mapping;
    /// its positions then point into the merged mapping's text.
    public var isMerged: Bool

    public init(key: YAMLNode, value: YAMLNode, isMerged: Bool = false) {
        self.key = key
        self.value = value
        self.isMerged = isMerged
    }
}

/// Where an alias (`*name`) was written, for a node reached through one.
public struct YAMLAliasReference: Sendable, Equatable {
    /// The anchor name, without `*`.
    public var name: String
    /// Start of `*name` in the source.
    public var start: YAMLMark
    /// End of `*name` in the source.
    public var end: YAMLMark
}

/// A node of the tree: a scalar, a sequence or a mapping, with its source positions.
public struct YAMLNode: Sendable, Equatable {
    public enum Content: Sendable, Equatable {
        case scalar(YAMLScalar)
        case sequence([YAMLNode])
        /// Entries in source order, `<<` merge keys already applied (see ``YAMLPair/isMerged``).
        case mapping([YAMLPair])
    }

    public var content: Content
    /// Where the node starts, including any anchor (`&a`) or tag (`!!str`) written before it.
    public var start: YAMLMark
    /// Where the node's own text starts, after any anchor and tag; equal to `start` when it has none.
    /// For a quoted scalar this is the opening quote.
    public var contentStart: YAMLMark
    /// Where the node ends (exclusive). For a quoted scalar, just after the closing quote;
    /// for a block collection, the end of its last entry.
    public var end: YAMLMark
    /// The anchor defined on this node (`&name`), without `&`.
    public var anchor: String?
    /// The explicit tag written on this node, if any (for scalars also in ``YAMLScalar/tag``).
    public var tag: String?
    /// True for flow collections (`[a, b]`, `{k: v}`); false for block collections and scalars.
    public var isFlow: Bool
    /// Set when this node was reached through an alias: the node is a copy of the anchored one
    /// (positions point at the anchor's definition) and this says where `*name` was written.
    public var alias: YAMLAliasReference?

    public init(content: Content, start: YAMLMark, contentStart: YAMLMark? = nil, end: YAMLMark,
                anchor: String? = nil, tag: String? = nil, isFlow: Bool = false, alias: YAMLAliasReference? = nil) {
        self.content = content
        self.start = start
        self.contentStart = contentStart ?? start
        self.end = end
        self.anchor = anchor
        self.tag = tag
        self.isFlow = isFlow
        self.alias = alias
    }

    // MARK: Accessors

    public var scalar: YAMLScalar? { if case .scalar(let s) = content { return s }; return nil }
    public var sequence: [YAMLNode]? { if case .sequence(let items) = content { return items }; return nil }
    public var mapping: [YAMLPair]? { if case .mapping(let pairs) = content { return pairs }; return nil }

    /// The byte range of the whole node in the source, anchor and tag included.
    public var byteRange: Range<Int> { start.offset..<max(start.offset, end.offset) }
    /// The byte range of the node's own text — what to replace to change a scalar's value
    /// while keeping its anchor and tag. Quotes are included for quoted scalars.
    public var contentByteRange: Range<Int> { contentStart.offset..<max(contentStart.offset, end.offset) }

    /// The first value whose key is the scalar `key` (nil when absent or not a mapping).
    public subscript(key: String) -> YAMLNode? { pair(forKey: key)?.value }

    /// The item at `index` of a sequence (nil when out of range or not a sequence).
    public subscript(index: Int) -> YAMLNode? {
        guard let items = sequence, items.indices.contains(index) else { return nil }
        return items[index]
    }

    /// The entry whose key is the scalar `key`, with the key's own positions.
    public func pair(forKey key: String) -> YAMLPair? {
        mapping?.first { $0.key.scalar?.value == key }
    }

    /// The scalar's resolved value, nil for collections.
    public var resolved: YAMLValue? { scalar?.resolved }
    /// True for a scalar that resolves to null (plain `~`, `null` or nothing at all).
    public var isNull: Bool { resolved == .null }
    /// The text of any non-null scalar, whatever its style (`8080` and `"8080"` both give "8080").
    public var string: String? {
        guard let s = scalar, s.resolved != .null else { return nil }
        return s.value
    }
    /// An integer from a plain scalar (or one tagged `!!int`); nil for quoted text such as `"8080"`.
    public var int: Int? { if case .int(let i)? = resolved { return i }; return nil }
    /// A bool from a plain scalar (`true`/`false`, any case style); nil for quoted text.
    public var bool: Bool? { if case .bool(let b)? = resolved { return b }; return nil }
    /// A number from a plain scalar (ints included); nil for quoted text.
    public var double: Double? {
        switch resolved {
        case .int(let i)?: return Double(i)
        case .float(let d)?: return d
        default: return nil
        }
    }

    /// "a mapping", "a list", "the string \"x\"", "the integer 5" — for messages.
    public var kindDescription: String {
        switch content {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .scalar(let s):
            switch s.resolved {
            case .null: return "null"
            case .bool: return "the boolean \(s.value)"
            case .int: return "the integer \(s.value)"
            case .float: return "the number \(s.value)"
            case .string: return "the string \(YAMLDocument.quoted(s.value))"
            }
        }
    }
}

// MARK: - Errors

/// A YAML syntax error (from libyaml) or a structure error (unknown alias, duplicate key, bad merge).
public struct YAMLError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong, e.g. `did not find expected ',' or ']'`.
    public var message: String
    /// Where it is wrong (libyaml's problem mark).
    public var mark: YAMLMark
    /// libyaml's context, e.g. `while parsing a flow sequence`, if any.
    public var context: String?
    /// Where that context started.
    public var contextMark: YAMLMark?

    public init(message: String, mark: YAMLMark, context: String? = nil, contextMark: YAMLMark? = nil) {
        self.message = message
        self.mark = mark
        self.context = context
        self.contextMark = contextMark
    }

    public var line: Int { mark.line }
    public var column: Int { mark.column }

    /// `YAML error at line 2, column 2: did not find expected ',' or ']' (while parsing a flow sequence at line 1, column 7)`
    public var description: String {
        var s = "YAML error at \(mark): \(message)"
        if let context {
            s += " (\(context)"
            if let contextMark { s += " at \(contextMark)" }
            s += ")"
        }
        return s
    }
}

// MARK: - Document

/// A parsed YAML stream.
///
/// ```swift
/// let doc = try YAMLDocument(parsing: "port: 8080\nname: \"8080\"\n")
/// doc.root?["port"]?.int      // 8080
/// doc.root?["name"]?.int      // nil — quoted, so a string
/// doc.root?["name"]?.string   // "8080"
/// ```
///
/// Supported: block and flow mappings and sequences, all scalar styles, tags, anchors and
/// aliases, and `<<` merge keys (a mapping or a list of mappings; keys written locally win,
/// and earlier merged mappings win over later ones). Duplicate keys in one mapping are an error.
public struct YAMLDocument: Sendable, Equatable {
    /// The source text the positions refer to.
    public let text: String
    /// The root node of every document in the stream (usually one; none for an empty
    /// stream or one holding only comments).
    public let documents: [YAMLNode]

    /// The first document's root, nil when the stream holds no document.
    public var root: YAMLNode? { documents.first }

    /// Parses `text`; throws a ``YAMLError`` with libyaml's line and column on malformed input.
    public init(parsing text: String) throws(YAMLError) {
        self.text = text
        self.documents = try Composer(text: text).run()
    }

    /// Parses `text` into a result.
    public static func parse(_ text: String) -> Result<YAMLDocument, YAMLError> {
        do { return .success(try YAMLDocument(parsing: text)) } catch { return .failure(error) }
    }

    /// The source text of a byte range (e.g. ``YAMLNode/byteRange``).
    public func source(_ range: Range<Int>) -> String {
        let bytes = text.utf8
        let lo = bytes.index(bytes.startIndex, offsetBy: max(0, min(range.lowerBound, bytes.count)))
        let hi = bytes.index(bytes.startIndex, offsetBy: max(0, min(range.upperBound, bytes.count)))
        return String(decoding: text.utf8[lo..<hi], as: UTF8.self)
    }

    /// `"text"` with `\`, `"` and control characters escaped — a valid YAML double-quoted scalar.
    public static func quoted(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if u.value < 0x20 || u.value == 0x7F {
                    let hex = String(u.value, radix: 16, uppercase: true)
                    out += "\\x" + String(repeating: "0", count: max(0, 2 - hex.count)) + hex
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }
}

// MARK: - Composer (events → tree)

/// Maps libyaml's marks (character index, 0-based line and column) to ``YAMLMark``.
/// libyaml counts `index` in characters and skips a leading BOM; we want UTF-8 byte offsets.
private struct MarkMapper {
    let bom: Int
    /// Byte offset of each Unicode scalar after the BOM, plus the end; nil when the text is ASCII.
    let offsets: [Int]?

    init(_ bytes: UnsafeBufferPointer<UInt8>) {
        let hasBOM = bytes.count >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF
        bom = hasBOM ? 3 : 0
        if !hasBOM && !bytes.contains(where: { $0 >= 0x80 }) {
            offsets = nil
            return
        }
        var table: [Int] = []
        table.reserveCapacity(bytes.count + 1)
        for i in bom..<bytes.count where bytes[i] & 0xC0 != 0x80 { table.append(i) }
        table.append(bytes.count)
        offsets = table
    }

    func byteOffset(_ index: Int) -> Int {
        guard let offsets else { return index }
        return offsets[min(max(0, index), offsets.count - 1)]
    }

    func mark(_ m: yaml_mark_t) -> YAMLMark {
        YAMLMark(line: Int(m.line) + 1, column: Int(m.column) + 1, offset: byteOffset(Int(m.index)))
    }
}

private struct Composer {
    let text: String

    /// A collection being built.
    struct Open {
        var isMapping: Bool
        var start: YAMLMark
        var contentStart: YAMLMark
        var anchor: String?
        var tag: String?
        var isFlow: Bool
        var items: [YAMLNode] = []
        var pairs: [YAMLPair] = []
        var pendingKey: YAMLNode?
    }

    func run() throws(YAMLError) -> [YAMLNode] {
        // A trailing NUL keeps the buffer non-empty; libyaml is given the real length.
        let bytes = Array(text.utf8) + [0]
        let count = bytes.count - 1
        return try bytes.withUnsafeBufferPointer { (buf) throws(YAMLError) -> [YAMLNode] in
            let input = UnsafeBufferPointer(rebasing: buf[0..<count])
            let mapper = MarkMapper(input)
            let parser = UnsafeMutablePointer<yaml_parser_t>.allocate(capacity: 1)
            defer { parser.deallocate() }
            guard yaml_parser_initialize(parser) == 1 else {
                throw YAMLError(message: "cannot initialise libyaml", mark: YAMLMark(line: 1, column: 1, offset: 0))
            }
            defer { yaml_parser_delete(parser) }
            yaml_parser_set_input_string(parser, buf.baseAddress!, count)
            // No yaml_parser_set_encoding: libyaml's own detection is what skips a leading BOM
            // (and leaves it out of mark indexes, which MarkMapper relies on).
            var state = State(input: input, mapper: mapper)
            var event = yaml_event_t()
            while true {
                guard yaml_parser_parse(parser, &event) == 1 else {
                    throw Self.libyamlError(parser.pointee, input: input, mapper: mapper)
                }
                let type = event.type
                let outcome: Result<Void, YAMLError>
                do throws(YAMLError) { try state.handle(&event); outcome = .success(()) } catch { outcome = .failure(error) }
                yaml_event_delete(&event)
                try outcome.get()
                if type == YAML_STREAM_END_EVENT { break }
            }
            return state.documents
        }
    }

    static func libyamlError(_ p: yaml_parser_t, input: UnsafeBufferPointer<UInt8>, mapper: MarkMapper) -> YAMLError {
        let problem = p.problem.map { String(cString: $0) } ?? "unknown libyaml error"
        if p.error == YAML_READER_ERROR {
            // Reader errors carry a byte offset, not a mark.
            let offset = min(Int(p.problem_offset), input.count)
            var line = 1, column = 1
            var i = 0
            while i < offset {
                let b = input[i]
                if b == 0x0A { line += 1; column = 1 } else if b & 0xC0 != 0x80 { column += 1 }
                i += 1
            }
            return YAMLError(message: problem, mark: YAMLMark(line: line, column: column, offset: offset))
        }
        let context = p.context.map { String(cString: $0) }
        return YAMLError(message: problem, mark: mapper.mark(p.problem_mark),
                         context: context, contextMark: context == nil ? nil : mapper.mark(p.context_mark))
    }

    struct State {
        let input: UnsafeBufferPointer<UInt8>
        let mapper: MarkMapper
        var documents: [YAMLNode] = []
        var stack: [Open] = []
        var anchors: [String: YAMLNode] = [:]
        /// Anchors on collections still open: an alias to one is recursive.
        var openAnchors: Set<String> = []

        init(input: UnsafeBufferPointer<UInt8>, mapper: MarkMapper) {
            self.input = input
            self.mapper = mapper
        }

        static func string(_ p: UnsafeMutablePointer<yaml_char_t>?) -> String? {
            guard let p else { return nil }
            return String(cString: UnsafePointer(p))
        }

        mutating func handle(_ event: inout yaml_event_t) throws(YAMLError) {
            let start = mapper.mark(event.start_mark)
            let end = mapper.mark(event.end_mark)
            switch event.type {
            case YAML_DOCUMENT_START_EVENT:
                anchors = [:]  // anchors are local to a document
            case YAML_SCALAR_EVENT:
                let s = event.data.scalar
                let value = s.value.map { String(decoding: UnsafeBufferPointer(start: $0, count: Int(s.length)), as: UTF8.self) } ?? ""
                let style: YAMLScalar.Style
                switch s.style {
                case YAML_SINGLE_QUOTED_SCALAR_STYLE: style = .singleQuoted
                case YAML_DOUBLE_QUOTED_SCALAR_STYLE: style = .doubleQuoted
                case YAML_LITERAL_SCALAR_STYLE: style = .literal
                case YAML_FOLDED_SCALAR_STYLE: style = .folded
                default: style = .plain
                }
                let anchor = Self.string(s.anchor)
                let tag = Self.string(s.tag)
                let node = YAMLNode(content: .scalar(YAMLScalar(value, style: style, tag: tag)),
                                    start: start, contentStart: contentStart(start, end: end, hasProperties: anchor != nil || tag != nil),
                                    end: end, anchor: anchor, tag: tag)
                if let anchor { anchors[anchor] = node }
                try add(node)
            case YAML_ALIAS_EVENT:
                let name = Self.string(event.data.alias.anchor) ?? ""
                if openAnchors.contains(name) {
                    throw YAMLError(message: "alias *\(name) refers to a node that contains it (recursive alias)", mark: start)
                }
                guard var node = anchors[name] else {
                    throw YAMLError(message: "unknown alias *\(name) (no anchor &\(name) before it)", mark: start)
                }
                node.alias = YAMLAliasReference(name: name, start: start, end: end)
                try add(node)
            case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
                let isMapping = event.type == YAML_MAPPING_START_EVENT
                let anchor = Self.string(isMapping ? event.data.mapping_start.anchor : event.data.sequence_start.anchor)
                let tag = Self.string(isMapping ? event.data.mapping_start.tag : event.data.sequence_start.tag)
                let isFlow = isMapping ? event.data.mapping_start.style == YAML_FLOW_MAPPING_STYLE
                                       : event.data.sequence_start.style == YAML_FLOW_SEQUENCE_STYLE
                if let anchor { openAnchors.insert(anchor) }
                stack.append(Open(isMapping: isMapping, start: start,
                                  contentStart: contentStart(start, end: nil, hasProperties: anchor != nil || tag != nil),
                                  anchor: anchor, tag: tag, isFlow: isFlow))
            case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                guard let open = stack.popLast() else { return }
                // (An entry reached through an alias ends where `*name` is written.)
                let lastNode = open.isMapping ? open.pairs.last?.value : open.items.last
                let last = lastNode.map { $0.alias?.end ?? $0.end }
                // A flow collection ends after its bracket; a block one where its last entry ends.
                let endMark = open.isFlow ? end : (last.map { max($0, open.contentStart) } ?? open.contentStart)
                let content: YAMLNode.Content = open.isMapping ? .mapping(try resolve(open.pairs)) : .sequence(open.items)
                let node = YAMLNode(content: content, start: open.start, contentStart: open.contentStart, end: endMark,
                                    anchor: open.anchor, tag: open.tag, isFlow: open.isFlow)
                if let anchor = open.anchor {
                    openAnchors.remove(anchor)
                    anchors[anchor] = node
                }
                try add(node)
            default:
                break
            }
        }

        /// Attaches a finished node to the open collection, or makes it a document root.
        mutating func add(_ node: YAMLNode) throws(YAMLError) {
            guard !stack.isEmpty else { documents.append(node); return }
            let top = stack.count - 1
            if stack[top].isMapping {
                if let key = stack[top].pendingKey {
                    stack[top].pairs.append(YAMLPair(key: key, value: node))
                    stack[top].pendingKey = nil
                } else {
                    stack[top].pendingKey = node
                }
            } else {
                stack[top].items.append(node)
            }
        }

        static func isMergeKey(_ key: YAMLNode) -> Bool {
            guard let s = key.scalar, s.value == "<<" else { return false }
            return s.tag == YAMLTag.merge || (s.tag == nil && s.style == .plain)
        }

        /// Rejects duplicate keys and applies `<<` merge keys.
        func resolve(_ raw: [YAMLPair]) throws(YAMLError) -> [YAMLPair] {
            var firstSeen: [String: YAMLMark] = [:]
            var hasMerge = false
            for pair in raw {
                if Self.isMergeKey(pair.key) { hasMerge = true; continue }
                guard let k = pair.key.scalar?.value else { continue }
                if let first = firstSeen[k] {
                    throw YAMLError(message: "duplicate key `\(k)` (first defined at line \(first.line))", mark: pair.key.start)
                }
                firstSeen[k] = pair.key.start
            }
            guard hasMerge else { return raw }
            var taken = Set(firstSeen.keys)
            var out: [YAMLPair] = []
            for pair in raw {
                guard Self.isMergeKey(pair.key) else { out.append(pair); continue }
                let sources: [YAMLNode]
                switch pair.value.content {
                case .mapping: sources = [pair.value]
                case .sequence(let items): sources = items
                case .scalar:
                    throw YAMLError(message: "the value of a `<<` merge key must be a mapping or a list of mappings", mark: pair.value.start)
                }
                for source in sources {
                    guard let pairs = source.mapping else {
                        throw YAMLError(message: "the value of a `<<` merge key must be a mapping or a list of mappings", mark: source.start)
                    }
                    for p in pairs {
                        if let k = p.key.scalar?.value {
                            if taken.contains(k) { continue }
                            taken.insert(k)
                        }
                        out.append(YAMLPair(key: p.key, value: p.value, isMerged: true))
                    }
                }
            }
            return out
        }

        /// Bytes that end an anchor or tag name.
        static let propertyStops: Set<UInt8> = [0x20, 0x09, 0x0A, 0x0D, UInt8(ascii: ","), UInt8(ascii: "["), UInt8(ascii: "]"),
                                                UInt8(ascii: "{"), UInt8(ascii: "}"), UInt8(ascii: "\""), UInt8(ascii: "'")]

        /// Skips an anchor (`&a`), tag (`!t`, `!!t`, `!<uri>`), blanks and comments after `start`
        /// to find where the node's own text begins.
        func contentStart(_ start: YAMLMark, end: YAMLMark?, hasProperties: Bool) -> YAMLMark {
            guard hasProperties else { return start }
            var i = start.offset, line = start.line, column = start.column
            let limit = min(end?.offset ?? input.count, input.count)
            func advance() {
                let b = input[i]
                if b == 0x0A { line += 1; column = 1 } else if b & 0xC0 != 0x80 { column += 1 }
                i += 1
            }
            func isBlank(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }
            while i < limit {
                let b = input[i]
                if isBlank(b) {
                    advance()
                } else if b == UInt8(ascii: "#") {
                    while i < limit && input[i] != 0x0A { advance() }
                } else if b == UInt8(ascii: "&") || b == UInt8(ascii: "!") {
                    if b == UInt8(ascii: "!") && i + 1 < limit && input[i + 1] == UInt8(ascii: "<") {
                        while i < limit && input[i] != UInt8(ascii: ">") { advance() }
                        if i < limit { advance() }
                    } else {
                        advance()
                        while i < limit && !Self.propertyStops.contains(input[i]) { advance() }
                    }
                } else {
                    break
                }
            }
            if i >= limit && end != nil { return start }  // nothing left: keep the node's start
            return YAMLMark(line: line, column: column, offset: i)
        }
    }
}

extension YAMLMark: Comparable {
    public static func < (a: YAMLMark, b: YAMLMark) -> Bool { a.offset < b.offset }
}
