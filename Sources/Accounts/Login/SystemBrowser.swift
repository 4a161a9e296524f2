#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch

/// Opens URLs with the desktop's handler: `xdg-open` on Linux (only when a
/// graphical session is present — `DISPLAY` or `WAYLAND_DISPLAY` — so that a
/// text browser never takes over the terminal), `open` on macOS. Started
/// with `posix_spawnp`, output discarded, reaped in the background.
public struct SystemBrowser: BrowserOpener {
    public init() {}

    public func open(_ url: String) -> Bool {
        #if os(macOS)
        let tool = "open"
        #else
        let tool = "xdg-open"
        let display = getenv("DISPLAY").map { String(cString: $0) } ?? ""
        let wayland = getenv("WAYLAND_DISPLAY").map { String(cString: $0) } ?? ""
        guard !display.isEmpty || !wayland.isEmpty else { return false }
        #endif
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup(tool), strdup(url), nil]
        defer { for p in argv { free(p) } }
        var pid = pid_t()
        let rc = argv.withUnsafeBufferPointer { posix_spawnp(&pid, tool, &actions, nil, $0.baseAddress!, environ) }
        guard rc == 0 else { return false }
        let child = pid
        DispatchQueue.global(qos: .utility).async {
            var status: Int32 = 0
            while waitpid(child, &status, 0) < 0 && errno == EINTR {}
        }
        return true
    }
}
