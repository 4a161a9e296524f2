import CMalloc
import Logging
import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import CLIProxyServer

/// The trimmer hands a burst's freed heap back to the system, once. It reads
/// the process's RSS, so `make test` runs this suite in a process of its own
/// (`swift test --filter MemoryTrimTests`).
@Suite(.serialized) struct MemoryTrimTests {
    static let mb = 1 << 20

    /// A fresh trimmer (32 MB threshold) and forgotten process-wide state.
    static func trimmer() -> MemoryTrimmer {
        MemoryTrimmer.resetReference()
        return MemoryTrimmer(threshold: 32 * mb, logger: Logger(label: "trim-test"))
    }

    /// `megabytes` in 4 KB chunks (heap, not mmap), touched, and a chunk
    /// allocated after them (`pin`) so that the heap's top stays put and free()
    /// cannot shrink it by itself.
    static func burst(megabytes: Int) -> (chunks: [UnsafeMutableRawPointer], pin: UnsafeMutableRawPointer?) {
        let chunks = (0..<(megabytes * mb / 4096)).map { _ in malloc(4096)! }
        for c in chunks { memset(c, 1, 4096) }
        return (chunks, malloc(4096))
    }
    @Test func aBurstsFreedHeapIsHandedBackOnce() {
        let mb = Self.mb, trimmer = Self.trimmer()
        // A burst of 96 MB, then freed under its pin. The first look comes
        // after the allocation: free memory left by earlier tests may be reused by it.
        let (chunks, pin) = Self.burst(megabytes: 96)
        #expect(!trimmer.trimIfWorthIt(), "the first look only takes the reference")
        for c in chunks { free(c) }
        let held = ProcessFigures.residentBytes()

        #expect(trimmer.trimIfWorthIt(), "the freed burst is still resident: trim")
        let trimmed = ProcessFigures.residentBytes()
        #expect(held - trimmed > 64 * mb, "RSS \(held >> 20) MB → \(trimmed >> 20) MB")
        #expect(!trimmer.trimIfWorthIt(), "nothing new to hand back: no second trim")
        free(pin)
    }

    /// A trim in the middle of a burst releases little (every other chunk
    /// still live); when the rest is freed the free count grows again, and
    /// the trimmer trims again.
    @Test func aTrimInTheMiddleOfABurstIsNotTheLast() {
        let mb = Self.mb, trimmer = Self.trimmer()
        let (chunks, pin) = Self.burst(megabytes: 128)
        let t0 = ContinuousClock.now
        #expect(!trimmer.trimIfWorthIt(now: t0), "the first look, after the allocation (it may reuse free memory)")
        for (i, c) in chunks.enumerated() where i % 2 == 0 { free(c) }  // 64 MB free, no whole page among it
        let fragmented = ProcessFigures.residentBytes()
        #expect(trimmer.trimIfWorthIt(now: t0 + .seconds(5)), "64 MB more free: trim")
        #expect(fragmented - ProcessFigures.residentBytes() < 16 * mb, "hardly anything to release yet")

        for (i, c) in chunks.enumerated() where i % 2 == 1 { free(c) }  // now one free run of 128 MB
        let held = ProcessFigures.residentBytes()
        #expect(trimmer.trimIfWorthIt(now: t0 + .seconds(10)), "the free bytes grew by 64 MB again: trim")
        #expect(held - ProcessFigures.residentBytes() > 96 * mb)
        free(pin)
    }

    /// Free memory that coalesces without the free count growing past the
    /// threshold is released by the catch-up rule, once `catchUp` has passed.
    @Test func freeMemoryThatCoalescedIsReleasedAfterTheCatchUpDelay() {
        let mb = Self.mb, trimmer = Self.trimmer()
        let (chunks, pin) = Self.burst(megabytes: 128)
        for (i, c) in chunks.enumerated() where i % 2 == 0 { free(c) }  // 64 MB free, fragmented
        let t0 = ContinuousClock.now
        #expect(!trimmer.trimIfWorthIt(now: t0), "the first look only takes the low")

        // 24 MB more (the odd chunks of the first 48 MB): under the threshold,
        // but it joins 48 MB into one free run of whole pages.
        let joined = 48 * mb / 4096
        for i in stride(from: 1, to: joined, by: 2) { free(chunks[i]) }
        let held = ProcessFigures.residentBytes()
        #expect(!trimmer.trimIfWorthIt(now: t0 + .seconds(5)), "24 MB is no burst")
        #expect(!trimmer.trimIfWorthIt(now: t0 + .seconds(29)), "before the catch-up delay")
        #expect(trimmer.trimIfWorthIt(now: t0 + .seconds(31)), "after it, with the free bytes moved: trim")
        #expect(held - ProcessFigures.residentBytes() > 32 * mb, "RSS \(held >> 20) MB before")
        #expect(!trimmer.trimIfWorthIt(now: t0 + .seconds(62)), "nothing resident since: no trim")

        for i in stride(from: joined + 1, to: chunks.count, by: 2) { free(chunks[i]) }
        free(pin)
    }

    /// Traffic that allocates and frees as much as a trim released faults
    /// those pages in again with the free count unmoved: the catch-up rule
    /// sees resident memory beyond malloc's in-use grow, and trims again.
    @Test func pagesFaultedInAgainAfterATrimAreReleasedAgain() {
        let mb = Self.mb, trimmer = Self.trimmer()
        let t0 = ContinuousClock.now
        let first = Self.burst(megabytes: 96)
        #expect(!trimmer.trimIfWorthIt(now: t0), "the first look only takes the reference")
        for c in first.chunks { free(c) }
        #expect(trimmer.trimIfWorthIt(now: t0 + .seconds(5)), "the burst ended: trim")

        // The same burst again, in the memory the trim released, and freed again.
        let second = Self.burst(megabytes: 96)
        for c in second.chunks { free(c) }
        let held = ProcessFigures.residentBytes()
        #expect(!trimmer.trimIfWorthIt(now: t0 + .seconds(20)), "the free count is where the trim left it: no burst")
        #expect(trimmer.trimIfWorthIt(now: t0 + .seconds(36)), "after the catch-up delay, with the pages resident again: trim")
        #expect(held - ProcessFigures.residentBytes() > 64 * mb, "RSS \(held >> 20) MB before")
        #expect(!trimmer.trimIfWorthIt(now: t0 + .seconds(72)), "nothing resident since: no trim")
        free(second.pin); free(first.pin)
    }
}
