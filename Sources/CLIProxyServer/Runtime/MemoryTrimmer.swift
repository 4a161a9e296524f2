import CMalloc
import Logging
import ServiceLifecycle
import Synchronization

/// Gives memory that malloc keeps after a burst back to the system.
///
/// A burst of big requests (megabyte bodies, thousands of streams) leaves
/// freed chunks in glibc's arenas; free only returns the top of an arena's
/// heap, so the pages in between stay resident. Measured with
/// `reliability.py fuzz --rounds 4` on Messages (docs/RELIABILITY.md): RSS
/// settled at 130 MB against 62 MB warm, of which malloc had 15.9 MB in use
/// (15.1 warm) and held 72.7 MB free — not a leak, but a proxy that never
/// shrinks after its worst minute.
///
/// Every `interval` it reads malloc's figures (mallinfo2: a walk of the
/// arenas' bins under their locks, well under a millisecond) and the RSS, and
/// calls `malloc_trim(0)`, which hands the free pages of every arena back
/// (MADV_DONTNEED), when
/// - the free bytes (`fordblks`) have grown by more than `threshold` over
///   their lowest value since the last trim: memory that was in use, so
///   resident, is not any more (a burst ended); or
/// - more than `threshold` is free, the last trim is `catchUp` old, and the
///   resident memory malloc does not account as in use (RSS − in-use) grew by
///   more than 1 MB since that trim. A trim in the middle of a burst releases
///   little (free chunks between live ones hold no whole page), and what it
///   left coalesces later without the free count growing; traffic that
///   allocates and frees as much as it did before faults released pages in
///   again with the free count unmoved. (Without this rule 100,000
///   streamGenerateContent requests settled at 199 MB, malloc 15.8 MB in use
///   and 140.7 MB free; keyed on the free count moving instead, 100,000
///   countTokens requests settled at 170 MB with 133.8 MB free.)
/// A server that is idle, or steady with little free, is left alone: a trim
/// would only make the next allocations fault the pages in again.
final class MemoryTrimmer: Service, Sendable {
    let interval: Duration
    let threshold: Int
    let logger: Logger
    /// Since the last trim: malloc's lowest free byte count, the resident
    /// bytes beyond malloc's in-use right after the trim, and when it ran (nil
    /// before the first look). One per process, like malloc: several servers
    /// in one process (the tests) share it, so a burst is trimmed once, not
    /// once per server.
    private static let state = Mutex<(low: Int, slackAfterTrim: Int, at: ContinuousClock.Instant)?>(nil)

    /// One look at malloc: its free bytes, and the resident bytes it does not
    /// count as in use — its resident free pages, plus the process's code,
    /// stacks and other mappings (steady).
    static func look() -> (free: Int, slack: Int) {
        let m = mallinfo2()
        return (Int(m.fordblks), ProcessFigures.residentBytes() - Int(m.uordblks) - Int(m.hblkhd))
    }
    let catchUp: Duration

    init(interval: Duration = .seconds(5), threshold: Int = 32 << 20, catchUp: Duration = .seconds(30), logger: Logger) {
        self.interval = interval
        self.threshold = threshold
        self.catchUp = catchUp
        self.logger = logger
    }

    func run() async throws {
        try await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: self.interval)
                self.trimIfWorthIt()
            }
        }
    }

    /// Trims when one of the two rules above holds; returns whether it did.
    @discardableResult
    func trimIfWorthIt(now: ContinuousClock.Instant = .now) -> Bool {
        // Under the lock: a second trimmer's look waits for a trim in progress.
        let trimmed: (Int, Int, Duration)? = Self.state.withLock { state in
            let (free, slack) = Self.look()
            guard let last = state else { state = (free, slack, now); return nil }
            let burstEnded = free - last.low > threshold
            let catchUpDue = free > threshold && now - last.at >= catchUp && slack - last.slackAfterTrim > 1 << 20
            guard burstEnded || catchUpDue else {
                state = (min(last.low, free), last.slackAfterTrim, last.at)
                return nil
            }
            let rss = ProcessFigures.residentBytes()
            let start = ContinuousClock.now
            malloc_trim(0)
            let took = ContinuousClock.now - start
            let after = Self.look()
            state = (after.free, after.slack, now)
            return (free, rss - ProcessFigures.residentBytes(), took)
        }
        guard let (free, released, took) = trimmed else { return false }
        logger.debug("malloc_trim: \(free >> 20) MB free in malloc, RSS \(released >> 20) MB lower (\(took))")
        return true
    }

    /// Forgets what it saw (tests: the next look starts afresh).
    static func resetReference() { state.withLock { $0 = nil } }
}
