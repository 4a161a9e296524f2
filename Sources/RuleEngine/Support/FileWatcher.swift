#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// inotify on a dedicated thread: which watched folders (and files in them)
/// changed, as an AsyncStream of path sets.
public final class FileWatcher: @unchecked Sendable {
    public let changes: AsyncStream<Set<String>>
    private let continuation: AsyncStream<Set<String>>.Continuation
    private let fd: Int32
    private let state = Mutex<(byWatch: [Int32: String], watched: Set<String>, pending: Set<String>, writing: Set<String>, stopped: Bool)>(([:], [], [], [], false))

    public init() {
        (changes, continuation) = AsyncStream.makeStream(of: Set<String>.self, bufferingPolicy: .bufferingNewest(16))
        fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0 else { return }
        let box = Unmanaged.passRetained(self).toOpaque()
        var tid = pthread_t()
        pthread_create(&tid, nil, { raw in
            let me = Unmanaged<FileWatcher>.fromOpaque(raw!).takeRetainedValue()
            me.loop()
            return nil
        }, box)
        pthread_detach(tid)
    }

    /// Watches `dir` (once; later calls for it change nothing).
    /// - Parameter markWrites: also track its files between a write and their
    ///   close (`beingWritten`). Off for a folder whose files are only ever
    ///   renamed into place and where something writes all the time (the auth
    ///   directory holds the usage database): each write would wake the watcher.
    public func watch(_ dir: String, markWrites: Bool = true) {
        guard fd >= 0 else { return }
        state.withLock { s in
            guard !s.watched.contains(dir) else { return }
            // A file counts as changed when its writer closes it (or renames it
            // into place), never on each write: a reload must not read a file
            // caught half-written. Creations count only for folders (a new
            // rules folder); a new file is reported when it is closed.
            // IN_MODIFY is not reported: it marks the file as being written
            // until its close (see `beingWritten`).
            let mask = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | (markWrites ? IN_MODIFY : 0))
            let wd = inotify_add_watch(fd, dir, mask)
            if wd >= 0 { s.byWatch[wd] = dir; s.watched.insert(dir) }
        }
    }

    /// Changes seen since the last yield.
    public func drain() -> Set<String> {
        state.withLock { s in defer { s.pending.removeAll() }; return s.pending }
    }

    /// Of `paths`, those written to (or truncated) since their last close:
    /// a writer that saves in place is between its truncate and its close,
    /// and a reader would see a partial file. Its close is reported next.
    public func beingWritten(_ paths: Set<String>) -> Set<String> {
        state.withLock { paths.intersection($0.writing) }
    }

    public func stop() {
        state.withLock { $0.stopped = true }
        continuation.finish()
    }

    private func loop() {
        var buf = [UInt8](repeating: 0, count: 64 * 1024)
        while !state.withLock({ $0.stopped }) {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&pfd, 1, 250) <= 0 { continue }
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { continue }
            var paths = Set<String>()
            var off = 0
            state.withLock { s in
                while off + 16 <= n {
                    let wd = buf.withUnsafeBytes { $0.load(fromByteOffset: off, as: Int32.self) }
                    let mask = buf.withUnsafeBytes { $0.load(fromByteOffset: off + 4, as: UInt32.self) }
                    let len = Int(buf.withUnsafeBytes { $0.load(fromByteOffset: off + 12, as: UInt32.self) })
                    let nameBytes = buf[(off + 16)..<min(n, off + 16 + len)].prefix(while: { $0 != 0 })
                    let fileCreated = mask & UInt32(IN_CREATE) != 0 && mask & UInt32(IN_ISDIR) == 0
                    if let dir = s.byWatch[wd] {
                        let file = nameBytes.isEmpty ? nil : dir + "/" + String(decoding: nameBytes, as: UTF8.self)
                        if mask & UInt32(IN_MODIFY) != 0 {
                            if let file { s.writing.insert(file) }
                        } else if !fileCreated {
                            if let file { s.writing.remove(file); paths.insert(file) }
                            paths.insert(dir)
                        }
                    }
                    off += 16 + len
                }
                s.pending.formUnion(paths)
            }
            if !paths.isEmpty { continuation.yield(paths) }
        }
        close(fd)
    }
}
