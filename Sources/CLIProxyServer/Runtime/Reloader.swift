import Logging
import ProxyConfig
import RuleEngine
import ServiceLifecycle
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Hot reload: watches the config file and the rules folder (inotify), and
/// on a change builds a new snapshot beside the current one. A valid change
/// is swapped in atomically — requests in flight finish on the old snapshot;
/// an invalid one is refused with the reason (file and line) and the old one
/// keeps serving.
struct Reloader: Service {
    let store: ServerStateStore
    let rulesOverride: String?
    let logger: Logger

    func run() async throws {
        let watcher = FileWatcher()
        defer { watcher.stop() }
        watch(watcher)
        let changes = watcher.changes
        try await cancelWhenGracefulShutdown {
            var iterator = changes.makeAsyncIterator()
            while var changed = await iterator.next() {
                // Debounce: an editor's save is several events; take them all.
                try? await Task.sleep(for: .milliseconds(150))
                changed.formUnion(watcher.drain())
                await reload(changed)
                watch(watcher)
            }
        }
    }

    /// Watches the config file's folder and every folder of the rules.
    func watch(_ w: FileWatcher) {
        let state = store.state
        w.watch(ServerState.directory(of: FileSystem.absolute(state.configPath)))
        let root = state.rules.source.root
        w.watch(root)
        for rel in FileSystem.walk(root) {
            if let slash = rel.lastIndex(of: "/") { w.watch(root + "/" + rel[..<slash]) }
        }
    }

    func reload(_ changed: Set<String>) async {
        let old = store.state
        let configFile = FileSystem.absolute(old.configPath)
        let rulesRoot = old.rules.source.root
        let configChanged = changed.contains(configFile)
        var rulesChanged = changed.contains { $0 == rulesRoot || $0.hasPrefix(rulesRoot + "/") }
        guard configChanged || rulesChanged else { return }

        var config = old.config
        if configChanged {
            switch ProxyConfig.load(path: old.configPath) {
            case .failure(let e):
                logger.error("config not reloaded, the running one stays: \(e)")
            case .success(let (c, warnings)):
                for w in warnings { logger.warning("\(w)") }
                if c.port != old.config.port || c.host != old.config.host {
                    logger.warning("port or host changed in \(old.configPath): restart cliproxy to listen there")
                }
                config = c
                let newRoot = ServerState.rulesDirectory(explicit: rulesOverride, config: c, configPath: old.configPath)
                if newRoot != rulesRoot { rulesChanged = true }
            }
        }
        if rulesChanged {
            let root = ServerState.rulesDirectory(explicit: rulesOverride, config: config, configPath: old.configPath)
            do {
                let rules = try await RuleSet.build(root: root)
                let catalog = try ProviderCatalog.load(rulesRoot: root, files: rules.source.providerFiles)
                store.update { _ in ServerState(config: config, configPath: old.configPath, rules: rules, catalog: catalog, health: store.health) }
                logger.info("rules reloaded from \(root) (\(rules.dialects.count) dialects, \(Int(rules.buildMilliseconds)) ms)")
                return
            } catch {
                logger.error("rules not reloaded, the running ones stay: \(error)")
            }
        }
        if config != old.config {
            store.update { $0.with(config: config, health: store.health) }
            logger.info("config reloaded from \(old.configPath)")
        }
    }
}

/// inotify on a dedicated thread: which watched folders (and files in them)
/// changed, as an AsyncStream of path sets.
final class FileWatcher: @unchecked Sendable {
    let changes: AsyncStream<Set<String>>
    private let continuation: AsyncStream<Set<String>>.Continuation
    private let fd: Int32
    private let state = Mutex<(byWatch: [Int32: String], watched: Set<String>, pending: Set<String>, stopped: Bool)>(([:], [], [], false))

    init() {
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

    func watch(_ dir: String) {
        guard fd >= 0 else { return }
        state.withLock { s in
            guard !s.watched.contains(dir) else { return }
            let mask = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_MODIFY)
            let wd = inotify_add_watch(fd, dir, mask)
            if wd >= 0 { s.byWatch[wd] = dir; s.watched.insert(dir) }
        }
    }

    /// Changes seen since the last yield.
    func drain() -> Set<String> {
        state.withLock { s in defer { s.pending.removeAll() }; return s.pending }
    }

    func stop() {
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
                    let len = Int(buf.withUnsafeBytes { $0.load(fromByteOffset: off + 12, as: UInt32.self) })
                    let nameBytes = buf[(off + 16)..<min(n, off + 16 + len)].prefix(while: { $0 != 0 })
                    if let dir = s.byWatch[wd] {
                        paths.insert(dir)
                        if !nameBytes.isEmpty { paths.insert(dir + "/" + String(decoding: nameBytes, as: UTF8.self)) }
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
