// What loading config.yaml can report: warnings that do not stop it, errors that do.

/// One finding about a config file, with where it is.
public struct ConfigDiagnostic: Sendable, Equatable, CustomStringConvertible {
    public enum Severity: Sendable, Equatable {
        /// The config loads; something deserves attention (an unknown key, an ignored entry).
        case warning
        /// The config cannot be used.
        case error
    }

    public var severity: Severity
    /// The file name as given to `parse`/`load`.
    public var file: String
    /// 1-based line, nil when the finding is about the whole file (it cannot be read).
    public var line: Int?
    /// 1-based column, when known.
    public var column: Int?
    /// The key path concerned, e.g. `openai-compatibility[0].base-url`; nil for syntax errors.
    public var keyPath: String?
    /// What is wrong, without the location: "unknown key `foo`",
    /// "`port` must be an integer between 1 and 65535, got \"abc\"".
    public var message: String

    public init(severity: Severity, file: String, line: Int?, column: Int? = nil, keyPath: String?, message: String) {
        self.severity = severity
        self.file = file
        self.line = line
        self.column = column
        self.keyPath = keyPath
        self.message = message
    }

    /// `config.yaml:12`, `config.yaml:2:5` when a column is known (syntax errors), or `config.yaml`.
    public var location: String {
        guard let line else { return file }
        if let column, keyPath == nil { return "\(file):\(line):\(column)" }
        return "\(file):\(line)"
    }

    /// Warnings read `unknown key `foo` at config.yaml:12`;
    /// errors read `config.yaml:3: `port` must be an integer between 1 and 65535, got "abc"`.
    public var description: String {
        switch severity {
        case .warning: return "\(message) at \(location)"
        case .error: return "\(location): \(message)"
        }
    }
}

/// Why a config file could not be loaded: every error found, in source order (at least one).
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The errors (severity `.error`), in source order.
    public var diagnostics: [ConfigDiagnostic]

    public init(_ diagnostics: [ConfigDiagnostic]) {
        precondition(!diagnostics.isEmpty, "a ConfigError needs at least one diagnostic")
        self.diagnostics = diagnostics
    }

    /// The first error.
    public var first: ConfigDiagnostic { diagnostics[0] }
    public var file: String { first.file }
    public var line: Int? { first.line }
    public var keyPath: String? { first.keyPath }
    public var message: String { first.message }

    /// One error per line, each as `config.yaml:3: message`.
    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}
