import Hummingbird
import NIOCore

/// The request context of every route: Hummingbird's basics plus the peer's
/// address, which the Gemini CLI relay checks (loopback clients only).
struct ProxyContext: RequestContext, RemoteAddressRequestContext {
    var coreContext: CoreRequestContextStorage
    let remoteAddress: SocketAddress?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// True when the peer is this machine (127.0.0.0/8 or ::1, also as an
    /// IPv4-mapped IPv6 address).
    var peerIsLoopback: Bool {
        guard let ip = remoteAddress?.ipAddress else { return false }
        return ip.hasPrefix("127.") || ip == "::1" || ip.hasPrefix("::ffff:127.")
    }
}
