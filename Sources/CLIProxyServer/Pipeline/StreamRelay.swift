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
/// once; an upstream failure mid-stream (a transport error, or an end in the
/// middle of an event) is handed to the rules as the end of the stream, so
/// the client gets its dialect's in-stream error and a cleanly closed
/// response. When the client goes away, the upstream transfer is cancelled.
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
        if passthrough && attempts.framing == .sse { return await relayVerbatim(source, head: head, sent: sent) }
        let sent0 = sent

        // Read up to the first complete upstream event.
        let translator = bound.streamTranslator(framing: attempts.framing)
        var parser = SSEParser()
        var first: [SSEEvent] = []
        var ended = false
        var peeked: [UInt8] = []
        do {
            while first.isEmpty {
                guard let chunk = try await source.next() else { ended = true; break }
                if peeked.count < 1 << 20 { peeked += chunk }
                first = parser.feed(chunk)
            }
        } catch {
            return .unreachable(error.description)
        }
        if first.isEmpty && ended, let error = await notAStream(peeked, head: head) { return error }
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
        let lastFirst = first.last
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
            var last = lastFirst
            try await writer.write(ByteBuffer(bytes: opening))
            if !upstreamEnded {
                var broken: String? = nil
                do {
                    while let chunk = try await source.next() {
                        let events = parserBox.feed(chunk)
                        if events.isEmpty { continue }
                        last = events.last
                        let start = report.clock()
                        let out = try await translator.translate(events)
                        let spent = report.clock() - start
                        translating += spent
                        report.addTranslate(since: start)
                        if !out.isEmpty { sent += out; try await writer.write(ByteBuffer(bytes: out)) }
                    }
                } catch let e as TransportError {
                    // The upstream broke mid-stream: finishing the fold turns the
                    // missing terminator into the client's in-stream error.
                    broken = e.description
                }
                if broken == nil && parserBox.hasPartialEvent { broken = "the stream ended in the middle of an event" }
                report.upstreamEnded(since: sent0, excluding: translating)
                let tail: [UInt8]
                if let broken { tail = try await translator.fail("upstream stream broke: \(broken)", after: last) } else { tail = try await translator.finish() }
                if !tail.isEmpty { sent += tail; try await writer.write(ByteBuffer(bytes: tail)) }
            }
            log?.clientResponse(status: 200, body: sent)
            try await writer.finish(nil)
            status = 200
        }
        return .done(Response(status: .ok, headers: Replies.streamHeaders(attempts.framing), body: responseBody))
    }

    /// Same dialect, SSE client: the upstream's bytes go through untouched,
    /// cut only at event boundaries so that the client gets whole events.
    ///
    /// Nothing is committed before the first complete event: a stream that
    /// breaks or ends before it is an upstream failure the loop can fail over
    /// on. After it, a break (or an end in the middle of an event) drops the
    /// unfinished event and ends with the client's in-stream error, from the
    /// rules. When an observer wants tokens the events are also parsed on the
    /// side (up to 8 MiB of them) and decoded once the client has everything.
    func relayVerbatim(_ source: UpstreamCursor, head: UpstreamHead, sent sent0: UInt64) async -> Attempts.Outcome {
        var aligner = SSEEventAligner()
        var opening: [UInt8] = []
        var upstreamEnded = false
        var peeked: [UInt8] = []
        do {
            while opening.isEmpty {
                guard let chunk = try await source.next() else { upstreamEnded = true; break }
                if peeked.count < 1 << 20 { peeked += chunk }
                opening = aligner.take(chunk)
            }
        } catch {
            source.cancel()
            return .unreachable(error.description)
        }
        if opening.isEmpty {
            source.cancel()
            if let error = await notAStream(peeked, head: head) { return error }
            return .unreachable("the upstream's stream ended before its first event")
        }
        let log = attempts.log
        let report = self.report, bound = self.bound
        let alignerBox = AlignerBox(aligner)
        let opening0 = opening, ended0 = upstreamEnded
        report.streamStarted()
        let body = ResponseBody { writer in
            defer { source.cancel() }
            var finished = false
            defer { if !finished { report.streamEnded(status: 499, usage: nil) } }  // the client went away
            var kept: [SSEEvent] = [], parser = SSEParser(), keptBytes = 0
            let keep = report.wantsTokens
            var count = opening0.count
            try await writer.write(ByteBuffer(bytes: opening0))
            if keep { keptBytes += opening0.count; kept += parser.feed(opening0) }
            var broken: String? = nil
            var lastWhole = opening0
            if !ended0 {
                do {
                    while let chunk = try await source.next() {
                        let whole = alignerBox.take(chunk)
                        if whole.isEmpty { continue }
                        lastWhole = whole
                        count += whole.count
                        try await writer.write(ByteBuffer(bytes: whole))
                        if keep && keptBytes < 8 << 20 { keptBytes += whole.count; kept += parser.feed(whole) }
                    }
                } catch let e as TransportError {
                    broken = e.description
                }
            }
            if broken == nil && alignerBox.hasPartialEvent { broken = "the stream ended in the middle of an event" }
            report.upstreamAnswered(since: sent0, ended: true)
            log?.note("relayed \(count) bytes verbatim")
            if let broken {
                // The client's own dialect says the stream failed (pitfall 52).
                var lastParser = SSEParser()
                let tail = try await bound.streamTranslator(framing: .sse).fail("upstream stream broke: \(broken)",
                                                                                 after: lastParser.feed(lastWhole).last)
                if !tail.isEmpty { try await writer.write(ByteBuffer(bytes: tail)) }
                log?.note("upstream stream broke: \(broken)")
            }
            try await writer.finish(nil)
            finished = true
            let usage = keep && keptBytes < 8 << 20 ? await bound.measure(events: kept + parser.finish()) : nil
            report.streamEnded(status: 200, usage: usage)
        }
        return .done(Response(status: .ok, headers: Replies.streamHeaders(.sse), body: body))
    }
}

extension StreamRelay {
    /// A 2xx "stream" that ended before any event and is the upstream
    /// dialect's error body instead (a server answering a stream request with
    /// JSON): that error, with the upstream's message, for the loop to act on.
    func notAStream(_ bytes: [UInt8], head: UpstreamHead) async -> Attempts.Outcome? {
        guard attempts.isErrorBody(bytes, dialect: bound.upstream) else { return nil }
        attempts.log?.upstreamResponse(status: head.status, body: bytes)
        return await attempts.upstreamError(bound, head: UpstreamHead(status: 502, headers: head.headers), body: bytes)
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
    var hasPartialEvent: Bool { parser.hasPartialEvent }
}

/// The event aligner's state across the writer's iterations.
final class AlignerBox: @unchecked Sendable {
    private var aligner: SSEEventAligner
    init(_ a: SSEEventAligner) { aligner = a }
    func take(_ chunk: [UInt8]) -> [UInt8] { aligner.take(chunk) }
    var hasPartialEvent: Bool { aligner.hasPartialEvent }
}
