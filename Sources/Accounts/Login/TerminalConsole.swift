#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch

/// The login console of the command line: lines go to standard output,
/// pasted lines come from standard input (read on a background thread).
///
/// A line typed after the login finished is still consumed by the reader
/// thread, which then ends; the command exits after a login anyway.
public struct TerminalConsole: LoginConsole {
    public init() {}

    public func say(_ line: String) {
        print(line)
        fflush(nil)  // every stream: the prompt shows before the login waits
    }

    public func lines() -> AsyncStream<String> {
        AsyncStream { continuation in
            DispatchQueue.global(qos: .userInitiated).async {
                while let line = readLine(strippingNewline: true) {
                    if case .terminated = continuation.yield(line) { return }
                }
                continuation.finish()
            }
        }
    }
}
