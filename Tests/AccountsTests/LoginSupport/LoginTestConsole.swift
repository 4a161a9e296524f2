import Synchronization
@testable import Accounts

/// A console that records what the login says and lets a test paste lines.
final class LoginTestConsole: LoginConsole {
    private struct State {
        var said: [String] = []
        var waiters: [(String, CheckedContinuation<Void, Never>)] = []
    }
    private let state = Mutex(State())
    private let pasted: AsyncStream<String>
    private let pasteSink: AsyncStream<String>.Continuation

    init() { (pasted, pasteSink) = AsyncStream.makeStream(of: String.self) }

    var said: [String] { state.withLock { $0.said } }
    var text: String { said.joined(separator: "\n") }

    func say(_ line: String) {
        let ready = state.withLock { s in
            s.said.append(line)
            let hit = s.waiters.filter { line.contains($0.0) }
            s.waiters.removeAll { line.contains($0.0) }
            return hit
        }
        for (_, c) in ready { c.resume() }
    }

    func lines() -> AsyncStream<String> { pasted }

    /// Types a line, as a user pasting into the terminal.
    func paste(_ line: String) { pasteSink.yield(line) }

    /// Waits until a said line contains `fragment`; returns that line.
    func waitFor(_ fragment: String) async -> String {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let already = state.withLock { s in
                if s.said.contains(where: { $0.contains(fragment) }) { return true }
                s.waiters.append((fragment, c))
                return false
            }
            if already { c.resume() }
        }
        return said.first { $0.contains(fragment) }!
    }
}
