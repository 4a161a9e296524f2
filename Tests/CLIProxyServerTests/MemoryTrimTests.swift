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
@Suite struct MemoryTrimTests {
    @Test func aBurstsFreedHeapIsHandedBackOnce() {
        let mb = 1 << 20
        let trimmer = MemoryTrimmer(threshold: 32 * mb, logger: Logger(label: "trim-test"))
        MemoryTrimmer.resetReference()
        #expect(!trimmer.trimIfWorthIt(), "the first look only takes the reference")

        // A burst: 96 MB in 4 KB chunks (heap, not mmap), touched, then freed
        // under a chunk allocated after them, so the heap's top stays put and
        // free() cannot shrink it by itself.
        let chunks = (0..<(96 * mb / 4096)).map { _ in malloc(4096)! }
        for c in chunks { memset(c, 1, 4096) }
        let pin = malloc(4096)
        for c in chunks { free(c) }
        let held = ProcessFigures.residentBytes()

        #expect(trimmer.trimIfWorthIt(), "the freed burst is still resident: trim")
        let trimmed = ProcessFigures.residentBytes()
        #expect(held - trimmed > 64 * mb, "RSS \(held >> 20) MB → \(trimmed >> 20) MB")
        #expect(!trimmer.trimIfWorthIt(), "nothing new to hand back: no second trim")
        free(pin)
    }
}
