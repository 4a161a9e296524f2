import Hummingbird
import NIOCore
import RuleEngine
import UpstreamTransport

/// Relays one upstream stream to the client.
///
/// Before the client's status is committed it reads up to the first upstream
/// event: an error there (an HTTP error, an error event, or a stream that ends
/// at once) is still an `Outcome` the failover loop can act on. After that,
/// each batch of events that arrived together is translated and flushed at
/// once; an upstream failure mid-stream is handed to the rules as the end of
/// the stream, so the client gets its dialect's in-stream error and a cleanly
/// closed response. When the client goes away, the upstream transfer is
/// cancelled.
struct StreamRelay: Sendable {
    let attempts: Attempts
    let bound: Exchange
    let options: TransportOptions

    var passthrough: Bool { bound.relaysVerbatim }

    var report: ReportBox { attempts.report }

    func run(_ request: UpstreamRequest) async -> Attempts.Outcome {
        let head: UpstreamHead, body: UpstreamBody
        let sent = report.clock()
        do {
            (head, body) = try await attempts.path.transport.start(request, options: options)
        } catch {
            return .unreachable(error.description)
        }
        report.upstreamAnswered(since: sent, ended: head.status >= 300)
        if head.status >= 300 {
            let reply: [UInt8]
            do { reply = try await body.collect() } catch { return .unreachable(error.description) }
            attempts.log?.upstreamResponse(status: head.status, body: reply)
            return await attempts.upstreamError(bound, head: head, body: reply)
        }
        let source = UpstreamCursor(body: body)
        if passthrough && attempts.framing == .sse { return relayVerbatim(source, sent: sent) }
        let sent0 = sent

        // Read up to the first complete upstream event.
        let translator = bound.streamTranslator(framing: attempts.framing)
        var parser = SSEParser()
        var first: [SSEEvent] = []
        var ended = false
        do {
            while first.isEmpty {
                guard let chunk = try await source.next() else { ended = true; break }
                first = parser.feed(chunk)
            }
        } catch {
            return .unreachable(error.description)
        }
        let opening: [UInt8]
        let translateStart = report.clock()
        defer { report.addTranslate(since: translateStart) }
        do {
            switch try await translator.translateFirst(first, final: ended) {
            case .error(let info, let reply):
                source.cancel()
                return .upstreamError(status: info.status, info: info, reply: reply)
            case .bytes(let b):
                opening = b
            }
        } catch {
            source.cancel()
            return .done(await attempts.replies.error(502, "server", "the upstream's stream could not be translated: \(error)"))
        }
        let parserBox = ParserBox(parser)
        let log = attempts.log
        let upstreamEnded = ended
        let report = self.report, bound = self.bound
        report.streamStarted()
        let responseBody = ResponseBody { writer in
            defer { source.cancel() }
            var status = 499  // until the last byte is out: the client went away
            defer { report.streamEnded(status: status, usage: bound.usage) }
            var sent = opening
            var translating: UInt64 = 0
            try await writer.write(ByteBuffer(bytes: opening))
            if !upstreamEnded {
                do {
                    while let chunk = try await source.next() {
                        let events = parserBox.feed(chunk)
                        if events.isEmpty { continue }
                        let start = report.clock()
                        let out = try await translator.translate(events)
                        let spent = report.clock() - start
                        translating += spent
                        report.addTranslate(since: start)
                        if !out.isEmpty { sent += out; try await writer.write(ByteBuffer(bytes: out)) }
                    }
                } catch is TransportError {
                    // The upstream broke mid-stream: finishing the fold turns the
                    // missing terminator into the client's in-stream error.
                }
                report.upstreamEnded(since: sent0, excluding: translating)
                let tail = try await translator.finish()
                if !tail.isEmpty { sent += tail; try await writer.write(ByteBuffer(bytes: tail)) }
            }
            log?.clientResponse(status: 200, body: sent)
            try await writer.finish(nil)
            status = 200
        }
        return .done(Response(status: .ok, headers: Replies.streamHeaders(attempts.framing), body: responseBody))
    }

    /// Same dialect, SSE client: the upstream's bytes go through untouched.
    ///
    /// When an observer wants tokens the events are also parsed on the side
    /// (up to 8 MiB of them) and decoded once the client has everything.
    func relayVerbatim(_ source: UpstreamCursor, sent sent0: UInt64) -> Attempts.Outcome {
        let log = attempts.log
        let report = self.report, bound = self.bound
        report.streamStarted()
        let body = ResponseBody { writer in
            defer { source.cancel() }
            var finished = false
            defer { if !finished { report.streamEnded(status: 499, usage: nil) } }  // the client went away
            var kept: [SSEEvent] = [], parser = SSEParser(), keptBytes = 0
            let keep = report.wantsTokens
            var count = 0
            do {
                while let chunk = try await source.next() {
                    count += chunk.count
                    try await writer.write(ByteBuffer(bytes: chunk))
                    if keep && keptBytes < 8 << 20 { keptBytes += chunk.count; kept += parser.feed(chunk) }
                }
            } catch is TransportError {
                // Nothing to add in the client's own dialect: the stream simply ends early.
            }
            report.upstreamAnswered(since: sent0, ended: true)
            log?.note("relayed \(count) bytes verbatim")
            try await writer.finish(nil)
            finished = true
            let usage = keep && keptBytes < 8 << 20 ? await bound.measure(events: kept + parser.finish()) : nil
            report.streamEnded(status: 200, usage: usage)
        }
        return .done(Response(status: .ok, headers: Replies.streamHeaders(.sse), body: body))
    }
}

/// The upstream body's iterator, shared between the peek before the response
/// and the writer after it. Used by one task at a time (the handler, then the
/// response writer), hence `@unchecked Sendable`.
final class UpstreamCursor: @unchecked Sendable {
    private let body: UpstreamBody
    private var iterator: UpstreamBody.Iterator

    init(body: UpstreamBody) {
        self.body = body
        self.iterator = body.makeAsyncIterator()
    }

    func next() async throws(TransportError) -> [UInt8]? { try await iterator.next() }
    func cancel() { body.cancel() }
}

/// The SSE parser's state across the writer's iterations.
final class ParserBox: @unchecked Sendable {
    private var parser: SSEParser
    init(_ p: SSEParser) { parser = p }
    func feed(_ chunk: [UInt8]) -> [SSEEvent] { parser.feed(chunk) }
}
