import HTTPTypes
import Hummingbird
import NIOCore
import RuleEngine

/// Replies in a client's dialect. The proxy's own errors are IR errors
/// rendered by the client dialect's `error::encode` rule, so their shape is
/// data too.
struct Replies: Sendable {
    let rules: RuleSet
    let dialect: String

    /// An error of the proxy's own (`type` is an IR error type).
    func error(_ status: Int, _ type: String, _ message: String, retryAfter: Int? = nil) async -> Response {
        let ex = Exchange(ruleSet: rules, client: dialect, upstream: dialect,
                          context: TranslationContext(model: "", requestID: RequestIDs.make(), created: Clock.unixSeconds(), idSeed: "e"))
        do {
            let reply = try await ex.encodeError(status: status, type: type, message: message, retryAfter: retryAfter)
            return Self.response(reply)
        } catch {
            // The rules themselves failed: say so in plain text rather than
            // guess a dialect's shape in Swift.
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; charset=utf-8"
            return Response(status: .init(code: status), headers: headers,
                            body: .init(byteBuffer: ByteBuffer(string: "\(message)\n(the error rules failed too: \(error))\n")))
        }
    }

    static func response(_ reply: RuleReply) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        for (k, v) in reply.headers {
            if let name = HTTPField.Name(k) { headers[name] = v }
        }
        return Response(status: .init(code: reply.status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: reply.body)))
    }

    static func json(_ status: Int, _ body: [UInt8]) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: .init(code: status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    static func streamHeaders(_ framing: StreamFraming) -> HTTPFields {
        var headers = HTTPFields()
        switch framing {
        case .sse: headers[.contentType] = "text/event-stream; charset=utf-8"
        case .jsonArray: headers[.contentType] = "application/json"
        }
        headers[.cacheControl] = "no-cache"
        if let name = HTTPField.Name("x-accel-buffering") { headers[name] = "no" }
        return headers
    }
}

extension Request {
    /// Header fields as (name, value) pairs.
    var headerPairs: [(String, String)] { headers.map { ($0.name.canonicalName, $0.value) } }
}
