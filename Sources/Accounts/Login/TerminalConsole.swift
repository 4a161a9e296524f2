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
        // Straight to fd 1, unbuffered, so the prompt shows before the login
        // waits. Not print + fflush(nil): flushing every stream takes stdin's
        // lock, which the reader thread below holds while it waits — a deadlock.
        var bytes = Array((line + "\n").utf8)[...]
        while !bytes.isEmpty {
            let n = bytes.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            bytes = bytes.dropFirst(n)
        }
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
