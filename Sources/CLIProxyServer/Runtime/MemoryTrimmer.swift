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
/// Every `interval` it compares the resident memory with malloc's in-use
/// bytes (mallinfo2: a walk of the arenas' bins under their locks, well under
/// a millisecond). Their gap is the process's own code, stacks and libraries
/// plus the free heap pages still resident. When the gap has grown by more
/// than `threshold` since the last trim (or the start), `malloc_trim(0)`
/// hands the free pages of every arena back (MADV_DONTNEED) and the gap
/// after it becomes the new reference. (malloc's free byte count cannot be
/// the trigger: trimmed chunks stay free chunks, counted as before.) A
/// steady server reuses its free memory and is left alone: a trim would only
/// make the next allocations fault the pages in again.
final class MemoryTrimmer: Service, Sendable {
    let interval: Duration
    let threshold: Int
    let logger: Logger
    /// RSS minus malloc's in-use bytes after the last trim (nil before the
    /// first look). One per process, like malloc: several servers in one
    /// process (the tests) share it, so a burst is trimmed once, not once per
    /// server.
    private static let reference = Mutex<Int?>(nil)

    init(interval: Duration = .seconds(5), threshold: Int = 32 << 20, logger: Logger) {
        self.interval = interval
        self.threshold = threshold
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

    /// Resident bytes not accounted for by malloc's in-use bytes.
    static func gap() -> Int {
        let m = mallinfo2()
        return ProcessFigures.residentBytes() - Int(m.uordblks) - Int(m.hblkhd)
    }

    /// Trims when the gap grew by more than `threshold`; returns whether it did.
    @discardableResult
    func trimIfWorthIt() -> Bool {
        // Under the lock: a second trimmer's look waits for a trim in progress.
        let trimmed: (Int, Duration)? = Self.reference.withLock { reference in
            let gap = Self.gap()
            guard let last = reference else { reference = gap; return nil }
            guard gap - last > threshold else { return nil }
            let start = ContinuousClock.now
            malloc_trim(0)
            let after = Self.gap()
            reference = after
            return (gap - after, ContinuousClock.now - start)
        }
        guard let (freed, took) = trimmed else { return false }
        logger.debug("malloc_trim: \(freed >> 20) MB of free heap handed back to the system (\(took))")
        return true
    }

    /// Forgets the reference (tests: the next look takes a new one).
    static func resetReference() { reference.withLock { $0 = nil } }
}
