/// Input the engine refused before any rule ran. The server renders these as
/// a 400 in the client's dialect.
public enum RuleInputError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidUTF8(byteOffset: Int)
    case malformedJSON(message: String)
    case tooLarge(bytes: Int)

    public var description: String {
        switch self {
        case .invalidUTF8(let at): return "request body is not valid UTF-8 (first bad byte at offset \(at))"
        case .malformedJSON(let m): return "request body is not valid JSON: \(m)"
        case .tooLarge(let n): return "request body is too large (\(n) bytes)"
        }
    }
}

/// A rule set that could not be built: a compile error (with the rule file and
/// line libjq reported), a refused source, or a missing module.
public struct RuleCompileError: Error, Sendable, CustomStringConvertible {
    public var messages: [String]
    public init(_ messages: [String]) { self.messages = messages }
    public var description: String { messages.joined(separator: "\n") }
}

/// A rule failed while running: `rule` names the module and definition
/// (`claude/request::decode`), `message` is what the rule or jq said.
public struct RuleRuntimeError: Error, Sendable, CustomStringConvertible {
    public var rule: String
    public var message: String
    public init(rule: String, message: String) { self.rule = rule; self.message = message }
    public var description: String { "\(rule): \(message)" }
}
