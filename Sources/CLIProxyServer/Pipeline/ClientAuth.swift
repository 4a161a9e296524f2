import HTTPTypes
import Hummingbird
import ProxyConfig

/// Client authentication against `api-keys`.
///
/// A key is accepted from `Authorization: Bearer …`, `x-api-key`,
/// `x-goog-api-key` or the `key` query parameter, compared in constant time.
/// With no keys configured every request is allowed (the server then listens
/// on 127.0.0.1 only, see `CLIProxyServer`).
enum ClientAuth {
    static func presentedKeys(_ request: Request) -> [String] {
        var keys: [String] = []
        if let auth = request.headers[.authorization] {
            let lower = auth.lowercased()
            keys.append(lower.hasPrefix("bearer ") ? String(auth.dropFirst(7)).trimmingSpaces : auth.trimmingSpaces)
        }
        for name in ["x-api-key", "x-goog-api-key"] {
            if let n = HTTPField.Name(name), let v = request.headers[n] { keys.append(v.trimmingSpaces) }
        }
        if let q = request.uri.queryParameters["key"] { keys.append(String(q)) }
        return keys.filter { !$0.isEmpty }
    }

    static func allows(_ request: Request, keys: [Secret]) -> Bool {
        if keys.isEmpty { return true }
        let presented = presentedKeys(request)
        var ok = false
        for p in presented { for k in keys where k.matches(p) { ok = true } }  // no early exit
        return ok
    }

    /// nil when allowed, else the 401 in the endpoint's dialect.
    static func check(_ request: Request, keys: [Secret], replies: Replies) async -> Response? {
        if allows(request, keys: keys) { return nil }
        let missing = presentedKeys(request).isEmpty
        return await replies.error(401, "authentication",
            missing ? "missing API key: send it as Authorization: Bearer <key>, x-api-key, x-goog-api-key or ?key="
                    : "invalid API key")
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " || s.first == "\t" { s = s.dropFirst() }
        while s.last == " " || s.last == "\t" { s = s.dropLast() }
        return String(s)
    }
}

/// Reading request bodies: the size limit and the content type.
enum BodyReader {
    struct Refusal: Error { var status: Int; var type: String; var message: String }

    static func read(_ request: Request, limit: Int) async -> Result<[UInt8], Refusal> {
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit {
            return .failure(Refusal(status: 413, type: "too_large", message: "request body of \(length) bytes exceeds the limit of \(limit) bytes (max-body-size)"))
        }
        do {
            var buffer = try await request.body.collect(upTo: limit)
            return .success(buffer.readBytes(length: buffer.readableBytes) ?? [])
        } catch {
            return .failure(Refusal(status: 413, type: "too_large", message: "request body exceeds the limit of \(limit) bytes (max-body-size)"))
        }
    }

    /// Bodies are JSON. A missing content type, JSON types and the two that
    /// curl and some SDKs send by default (form-urlencoded, text/plain) are
    /// read as JSON; anything else (multipart, XML, …) is refused with 415.
    static func checkContentType(_ request: Request, replies: Replies) async -> Response? {
        guard let ct = request.headers[.contentType]?.lowercased() else { return nil }
        let media = ct.split(separator: ";").first.map { String($0).trimmingSpaces } ?? ""
        let accepted = media.isEmpty || media == "application/json" || media.hasSuffix("+json") || media == "text/json"
            || media == "text/plain" || media == "application/x-www-form-urlencoded" || media == "*/*"
        if accepted { return nil }
        return await replies.error(415, "invalid_request", "unsupported content type \(media): send the body as application/json")
    }
}
