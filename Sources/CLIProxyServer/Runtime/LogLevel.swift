import Logging
import Synchronization

/// The process's log level, following the running config's `debug` setting
/// (hot-reloaded like the rest: `debug: true` in config.yaml, or
/// `PUT /v0/management/debug`, takes effect for the next line logged).
public enum LogLevelSwitch {
    private static let level = Atomic<UInt8>(LogLevelSwitch.code(.info))

    /// The level every `SwitchableLogHandler` logs at now.
    public static var current: Logger.Level { Logger.Level.allCases[Int(level.load(ordering: .relaxed))] }

    /// `debug` on → `.debug`, off → `.info`.
    public static func follow(debug: Bool) {
        level.store(code(debug ? .debug : .info), ordering: .relaxed)
    }

    private static func code(_ l: Logger.Level) -> UInt8 { UInt8(Logger.Level.allCases.firstIndex(of: l)!) }
}

/// A log handler whose level is `LogLevelSwitch.current`: a `Logger` asks its
/// handler for the level before building a message, so a debug line costs
/// nothing while debug is off.
public struct SwitchableLogHandler: LogHandler {
    private var inner: StreamLogHandler

    public init(_ inner: StreamLogHandler) {
        self.inner = inner
        self.inner.logLevel = .trace  // the switch filters, not the wrapped handler
    }

    public var logLevel: Logger.Level {
        get { LogLevelSwitch.current }
        set {}  // the config decides
    }

    public var metadata: Logger.Metadata {
        get { inner.metadata }
        set { inner.metadata = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { inner[metadataKey: key] }
        set { inner[metadataKey: key] = newValue }
    }

    public func log(event: LogEvent) {
        inner.log(event: event)
    }
}
