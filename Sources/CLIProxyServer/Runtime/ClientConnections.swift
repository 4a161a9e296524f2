import HummingbirdCore
import NIOCore
import NIOHTTP1

/// How the server treats its client connections beyond what the HTTP
/// framework does by default: nothing may keep one open forever.
///
/// Found by the fuzz (docs/RELIABILITY.md, "Fuzzing"): after a request it
/// cannot parse (a 300 KB header, a broken chunked body, two
/// `Content-Length`s) Hummingbird answers 400, half-closes, and waits for
/// the client to close its side — but it no longer reads, so a client still
/// sending never gets its end-of-stream across, and the connection stayed
/// open for good: a descriptor and ~130 KB of buffers each, 1,000 such
/// requests +136 MB. An idle client connection was never closed either.
public struct ClientConnections: Sendable {
    /// A connection with no request in progress (kept alive between
    /// requests, or never sending one) is closed after this long. Requests
    /// in progress — long streams included — are never cut by it.
    public var idleTimeout: TimeAmount = .seconds(60)

    /// After a parse error the 400 goes out, then the connection is closed
    /// this much later (closing at once could reset it before the client
    /// has read the 400).
    public var closeAfterParseError: TimeAmount = .seconds(1)

    public init(idleTimeout: TimeAmount = .seconds(60), closeAfterParseError: TimeAmount = .seconds(1)) {
        self.idleTimeout = idleTimeout
        self.closeAfterParseError = closeAfterParseError
    }

    /// The HTTP/1 server with both limits.
    var http1: HTTPServerBuilder {
        let delay = closeAfterParseError
        return .http1(configuration: .init(additionalChannelHandlers: [ParseErrorCloser(delay: delay)], idleTimeout: idleTimeout))
    }
}

/// Closes its connection a moment after an HTTP parse error (see
/// `ClientConnections`); everything else passes by.
final class ParseErrorCloser: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    let delay: TimeAmount

    init(delay: TimeAmount) { self.delay = delay }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is HTTPParserError {
            let channel = context.channel
            channel.eventLoop.scheduleTask(in: delay) { channel.close(promise: nil) }
        }
        context.fireErrorCaught(error)
    }
}
