import RuleEngine
import Synchronization

/// Credential files and fake subscription upstreams for the account tests.
/// The fakes answer with the dialect fixtures' upstream files, wrapped the way
/// each subscription upstream wraps them (the Code Assist envelope, Codex's
/// always-streamed Responses), and record what they were sent.
enum Accounts {
    static let future = "2099-01-01T00:00:00Z"

    static func gemini(token: String = "ya29.gem", project: String = "proj-1", email: String = "g@example.com",
                       expiry: String = future, refresh: String = "1//r-gem") -> String {
        #"{"type":"gemini","token":{"access_token":"\#(token)","refresh_token":"\#(refresh)","expiry":"\#(expiry)","client_id":"cid","client_secret":"csecret","token_type":"Bearer"},"project_id":"\#(project)","email":"\#(email)","auto":false,"checked":true}"#
    }

    static func codex(token: String = "codex-at", account: String = "acct-1", email: String = "c@example.com",
                      expired: String = future, refresh: String = "rt-codex") -> String {
        #"{"type":"codex","access_token":"\#(token)","refresh_token":"\#(refresh)","id_token":"","account_id":"\#(account)","email":"\#(email)","expired":"\#(expired)","last_refresh":"2026-01-01T00:00:00Z"}"#
    }

    static func claude(token: String = "sk-ant-oat01-a", email: String = "a@example.com", expired: String = future,
                       refresh: String = "sk-ant-ort01-a") -> String {
        #"{"type":"claude","id_token":"","access_token":"\#(token)","refresh_token":"\#(refresh)","email":"\#(email)","expired":"\#(expired)","last_refresh":"2026-01-01T00:00:00Z"}"#
    }

    static func qwen(token: String = "qwen-at", resource: String, expired: String = future) -> String {
        #"{"type":"qwen","access_token":"\#(token)","refresh_token":"rt-qwen","resource_url":"\#(resource)","email":"","expired":"\#(expired)","last_refresh":"2026-01-01T00:00:00Z"}"#
    }

    /// `data:` payloads of an SSE fixture, each wrapped as `{"response": …}`.
    static func envelopeStream(_ sse: [UInt8]) -> [UInt8] {
        var out = ""
        for line in String(decoding: sse, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false) {
            let l = line.hasSuffix("\r") ? line.dropLast() : line
            if l.hasPrefix("data: ") { out += "data: {\"response\":" + l.dropFirst(6) + ",\"traceId\":\"t1\"}\r\n" } else { out += l + "\r\n" }
        }
        return Array(out.utf8)
    }

    static func envelope(_ json: [UInt8]) -> [UInt8] {
        Array("{\"response\":".utf8) + json + Array(",\"traceId\":\"t1\"}".utf8)
    }
}

/// The client side of the matrix: a request in one dialect, streamed or not.
struct ClientCall {
    var dialect: String
    var model: String
    var stream: Bool

    var path: String {
        switch dialect {
        case "openai": return "/v1/chat/completions"
        case "responses": return "/v1/responses"
        case "claude": return "/v1/messages"
        default: return "/v1beta/models/\(model):" + (stream ? "streamGenerateContent?alt=sse" : "generateContent")
        }
    }

    /// The `tools` scenario's client request of this dialect, for `model`.
    func body(case name: String = "tools") -> String {
        var text = String(decoding: Repo.fixture("\(dialect)-\(dialect)", name, "client_request.json"), as: UTF8.self)
        guard dialect != "gemini" else { return text }
        text = text.replacingModel(with: model)
        // The fixtures' requests may already say `"stream": true`.
        text = text.replacing("\"stream\": true", with: "\"stream\": \(stream)").replacing("\"stream\":true", with: "\"stream\":\(stream)")
        if stream, !text.contains("\"stream\""), let brace = text.firstIndex(of: "{") {
            text.insert(contentsOf: "\"stream\":true,", at: text.index(after: brace))
        }
        return text
    }

    /// What marks a tool call in this dialect's answer.
    var toolMarker: String {
        switch dialect {
        case "openai": return "tool_calls"
        case "responses": return "function_call"
        case "claude": return "tool_use"
        default: return "functionCall"
        }
    }

    /// What a complete answer of this dialect ends with, streamed or not.
    var endMarker: String {
        switch (dialect, stream) {
        case ("openai", true): return "[DONE]"
        case ("responses", true): return "response.completed"
        case ("claude", true): return "message_stop"
        case ("gemini", _): return "finishReason"
        case ("openai", false): return "finish_reason"
        case ("responses", false): return "\"status\":\"completed\""
        default: return "stop_reason"
        }
    }
}

/// A counter the fakes share with the test.
final class Counter: Sendable {
    let value = Atomic<Int>(0)
    func next() -> Int { value.add(1, ordering: .relaxed).newValue }
    var count: Int { value.load(ordering: .relaxed) }
}
