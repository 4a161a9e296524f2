import Foundation
import Testing
import CJQ
@testable import RuleEngine

/// The provider patches of `Rules/providers/` (gemini-cli, codex,
/// claude-oauth, qwen), run through the real rules the way the server binds
/// an exchange to an account. Each test states one fact of
/// providers.md directly, so that a golden file cannot bless its loss.
@Suite(.serialized) struct ProviderPatchTests {
    static let root: String = {
        let here = #filePath
        return String(here[..<here.firstRange(of: "/Tests/")!.lowerBound]) + "/Rules"
    }()
    static let shared = Task { try await RuleSet.build(root: root, threads: 2) }
    static let created = 1782321921

    /// An exchange from `client` bound to the provider's dialect with its patch.
    static func exchange(_ client: String, _ dialect: String, patch: String, model: String, stream: Bool = false,
                         account: [String: String] = [:], headers: [String: String] = [:], reasoning: String? = nil) async throws -> Exchange {
        let set = try await shared.value
        let ctx = TranslationContext(model: model, clientModel: model, stream: stream, requestID: "t1", created: created, idSeed: "t")
        return Exchange(ruleSet: set, client: client, upstream: dialect, context: ctx)
            .bound(to: dialect, model: model, patch: patch, account: account, headers: headers, reasoning: reasoning)
    }

    static func object(_ bytes: [UInt8]) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    }

    static func header(_ pairs: [(String, String)], _ name: String) -> String? {
        pairs.first { $0.0.lowercased() == name }?.1
    }

    // MARK: claude-oauth (providers.md 5.2, 5.3)

    static let identity = "You are Claude Code, Anthropic's official CLI for Claude."

    @Test func identityBlockGoesFirstOnceAndAStringSystemFollowsIt() async throws {
        let fresh = #"{"model":"claude-sonnet-4-20250514","max_tokens":64,"system":"Be terse.","messages":[{"role":"user","content":"hi"}]}"#
        let ex = try await Self.exchange("claude", "claude", patch: "claude-oauth", model: "claude-sonnet-4-20250514")
        let body = try Self.object(try await ex.encodeUpstream(from: Array(fresh.utf8)).body)
        let system = try #require(body["system"] as? [[String: Any]])
        #expect(system.count == 2)
        #expect(system[0]["type"] as? String == "text" && system[0]["text"] as? String == Self.identity)
        #expect(system[1]["text"] as? String == "Be terse.")

        // Claude Code already sends the block (with its cache_control): not added again.
        let claudeCode = #"{"model":"claude-sonnet-4-20250514","max_tokens":64,"system":[{"type":"text","text":"\#(Self.identity)","cache_control":{"type":"ephemeral"}},{"type":"text","text":"Tools follow."}],"messages":[{"role":"user","content":"hi"}]}"#
        let again = try await Self.exchange("claude", "claude", patch: "claude-oauth", model: "claude-sonnet-4-20250514")
        let kept = try #require(try Self.object(try await again.encodeUpstream(from: Array(claudeCode.utf8)).body)["system"] as? [[String: Any]])
        #expect(kept.count == 2)
        #expect(kept.filter { ($0["text"] as? String)?.hasPrefix("You are Claude Code") == true }.count == 1)
        #expect(kept[0]["cache_control"] != nil, "the client's own block is kept as it was")

        // A client of another dialect: its system prompt follows the identity too.
        let chat = #"{"model":"m","messages":[{"role":"system","content":"Be terse."},{"role":"user","content":"hi"}]}"#
        let translated = try await Self.exchange("openai", "claude", patch: "claude-oauth", model: "claude-sonnet-4-20250514")
        let t = try #require(try Self.object(try await translated.encodeUpstream(from: Array(chat.utf8)).body)["system"] as? [[String: Any]])
        #expect(t.map { $0["text"] as? String } == [Self.identity, "Be terse."])
    }

    @Test func betasAreMergedIntoTheHeaderAndLeaveTheBody() async throws {
        let req = #"{"model":"claude-sonnet-4-20250514","max_tokens":64,"betas":["context-1m-2025-08-07","oauth-2025-04-20"],"messages":[{"role":"user","content":"hi"}]}"#
        let ex = try await Self.exchange("claude", "claude", patch: "claude-oauth", model: "claude-sonnet-4-20250514",
                                         headers: ["anthropic-beta": "fine-grained-tool-streaming-2025-05-14, interleaved-thinking-2025-05-14"])
        let out = try await ex.encodeUpstream(from: Array(req.utf8))
        #expect(try Self.object(out.body)["betas"] == nil)
        #expect(Self.header(out.headers, "anthropic-beta")
                == "fine-grained-tool-streaming-2025-05-14,interleaved-thinking-2025-05-14,context-1m-2025-08-07,oauth-2025-04-20")

        // No beta named anywhere: the default list, with what OAuth requires.
        let plain = #"{"model":"claude-sonnet-4-20250514","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}"#
        let bare = try await Self.exchange("claude", "claude", patch: "claude-oauth", model: "claude-sonnet-4-20250514")
        #expect(Self.header(try await bare.encodeUpstream(from: Array(plain.utf8)).headers, "anthropic-beta")
                == "claude-code-20250219,oauth-2025-04-20,interleaved-thinking-2025-05-14")
    }

    // MARK: codex (providers.md 4.2–4.4)

    static let account = ["account_id": "acc-123", "email": "ana@example.com"]

    @Test func codexSendsOnlyTheAllowListAlwaysStreamedNeverStored() async throws {
        let req = #"{"model":"gpt-5","input":"hi","stream":false,"store":true,"stream_id":"s1","previous_response_id":"resp_1","max_output_tokens":100,"temperature":0.2,"top_p":0.9,"user":"u","metadata":{"a":"b"},"truncation":"auto","service_tier":"flex","safety_identifier":"x","prompt_cache_key":"pk-1","tools":[{"type":"web_search_preview"}]}"#
        let ex = try await Self.exchange("responses", "responses", patch: "codex", model: "gpt-5", account: Self.account)
        let out = try await ex.encodeUpstream(from: Array(req.utf8))
        let body = try Self.object(out.body)
        let allowed: Set<String> = ["model", "instructions", "input", "tools", "tool_choice", "parallel_tool_calls", "reasoning",
                                    "store", "stream", "include", "prompt_cache_key", "text", "service_tier"]
        #expect(Set(body.keys).isSubset(of: allowed), "\(body.keys.sorted())")
        for gone in ["stream_id", "previous_response_id", "max_output_tokens", "temperature", "top_p", "user", "metadata", "truncation", "service_tier", "safety_identifier"] {
            #expect(body[gone] == nil, "\(gone) must not reach the Codex backend")
        }
        #expect(body["stream"] as? Bool == true)
        #expect(body["store"] as? Bool == false)
        #expect(body["instructions"] as? String == "")
        let input = try #require(body["input"] as? [[String: Any]])
        #expect(input.count == 1 && input[0]["role"] as? String == "user", "a string input becomes one user message")
        #expect((body["tools"] as? [[String: Any]])?.first?["type"] as? String == "web_search")
        #expect(body["include"] as? [String] == ["reasoning.encrypted_content"])

        // Account headers; the product's own originator unless the client sent one.
        #expect(Self.header(out.headers, "chatgpt-account-id") == "acc-123")
        #expect(Self.header(out.headers, "openai-beta") == "responses=experimental")
        #expect(Self.header(out.headers, "originator") == "cliproxy")
        #expect(Self.header(out.headers, "session_id") == "pk-1")
        let forwarded = try await Self.exchange("responses", "responses", patch: "codex", model: "gpt-5", account: Self.account,
                                                headers: ["originator": "codex_cli_rs"])
        #expect(Self.header(try await forwarded.encodeUpstream(from: Array(req.utf8)).headers, "originator") == "codex_cli_rs")

        // "priority" is the one service tier the backend takes.
        let priority = try await Self.exchange("responses", "responses", patch: "codex", model: "gpt-5", account: Self.account)
        let p = try Self.object(try await priority.encodeUpstream(from: Array(#"{"model":"gpt-5","input":"hi","service_tier":"priority"}"#.utf8)).body)
        #expect(p["service_tier"] as? String == "priority")
    }

    @Test func anAliasEffortReachesCodexWithEncryptedReasoning() async throws {
        let req = #"{"model":"gpt-5-minimal","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}"#
        let ex = try await Self.exchange("claude", "responses", patch: "codex", model: "gpt-5", account: Self.account,
                                         reasoning: #"{"effort":"minimal"}"#)
        let body = try Self.object(try await ex.encodeUpstream(from: Array(req.utf8)).body)
        #expect(body["model"] as? String == "gpt-5")
        #expect((body["reasoning"] as? [String: Any])?["effort"] as? String == "minimal")
        #expect(body["include"] as? [String] == ["reasoning.encrypted_content"])
        #expect(body["max_output_tokens"] == nil)
    }

    @Test func usageLimitResetBecomesRetryAfterAndCapacityIsARateLimit() async throws {
        let resetsAt = Self.created + 7200
        let usage = #"{"error":{"type":"usage_limit_reached","message":"The usage limit has been reached","plan_type":"plus","resets_at":\#(resetsAt),"resets_in_seconds":9999}}"#
        let ex = try await Self.exchange("openai", "responses", patch: "codex", model: "gpt-5", account: Self.account)
        let (info, reply) = try await ex.examineError(status: 429, headers: [("Retry-After", "5")], body: Array(usage.utf8))
        #expect(info.retryAfter == 7200, "resets_at minus the request's start wins over resets_in_seconds and the header")
        #expect(Self.header(reply.headers, "retry-after") == "7200")
        #expect(info.type == "rate_limit")

        // Without resets_at: resets_in_seconds.
        let relative = #"{"error":{"type":"usage_limit_reached","message":"limit","resets_in_seconds":600}}"#
        let (r2, _) = try await ex.examineError(status: 429, body: Array(relative.utf8))
        #expect(r2.retryAfter == 600)

        let capacity = #"{"error":{"message":"Selected model is at capacity. Please try a different model.","type":"server_error","param":null,"code":"server_is_overloaded"}}"#
        let (c, creply) = try await ex.examineError(status: 503, body: Array(capacity.utf8))
        #expect(c.status == 429 && c.type == "rate_limit")
        #expect(creply.status == 429)
    }

    // MARK: gemini-cli (providers.md 1.2, 1.9)

    @Test func codeAssistEnvelopeIsWrappedAndUnwrapped() async throws {
        let chat = #"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#
        let ex = try await Self.exchange("openai", "gemini", patch: "gemini-cli", model: "gemini-2.5-pro",
                                         account: ["project_id": "proj-7", "email": "ana@example.com"])
        let body = try Self.object(try await ex.encodeUpstream(from: Array(chat.utf8)).body)
        #expect(Set(body.keys) == ["model", "project", "request"])
        #expect(body["model"] as? String == "gemini-2.5-pro")
        #expect(body["project"] as? String == "proj-7")
        #expect((body["request"] as? [String: Any])?["contents"] != nil)

        // Developer-API-only fields of a Gemini client stay out of the envelope.
        let gem = try await Self.exchange("gemini", "gemini", patch: "gemini-cli", model: "gemini-2.5-pro", account: ["project_id": "proj-7"])
        let inner = try #require(try Self.object(try await gem.encodeUpstream(from: Array(#"{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"store":true,"serviceTier":"flex","generationConfig":{"temperature":1}}"#.utf8)).body)["request"] as? [String: Any])
        #expect(Set(inner.keys) == ["contents", "generationConfig"])

        // Replies: the envelope comes off, traceId standing in for a missing responseId.
        let wrapped = #"{"response":{"candidates":[{"content":{"role":"model","parts":[{"text":"Olá"}]},"finishReason":"STOP","index":0}],"modelVersion":"gemini-2.5-pro"},"traceId":"trace-1"}"#
        let reply = try Self.object(try await gem.translateResponse(Array(wrapped.utf8)))
        #expect(reply["response"] == nil && reply["candidates"] != nil)
        #expect(reply["responseId"] as? String == "trace-1")
        let chatReply = try Self.object(try await ex.translateResponse(Array(wrapped.utf8)))
        let choices = try #require(chatReply["choices"] as? [[String: Any]])
        #expect((choices.first?["message"] as? [String: Any])?["content"] as? String == "Olá")

        // Streams: every event is unwrapped, so the stream goes through the rules.
        let sgem = try await Self.exchange("gemini", "gemini", patch: "gemini-cli", model: "gemini-2.5-pro", stream: true, account: ["project_id": "proj-7"])
        #expect(!sgem.relaysVerbatim)
        _ = try await sgem.decodeRequest(Array(#"{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}"#.utf8))
        let t = sgem.streamTranslator()
        var out = try await t.translate([SSEEvent(name: nil, data: Array(wrapped.utf8))])
        out += try await t.finish()
        let text = String(decoding: out, as: UTF8.self)
        #expect(text.contains("\"candidates\"") && !text.contains("\"response\"") && !text.contains("traceId"), "\(text)")
    }

    @Test func codeAssistCountsInTheCLIForm() async throws {
        let ex = try await Self.exchange("claude", "gemini", patch: "gemini-cli", model: "gemini-2.5-pro", account: ["project_id": "proj-7"])
        _ = try await ex.decode(Array(#"{"model":"claude-x","system":"Be terse.","messages":[{"role":"user","content":"hi"}]}"#.utf8), countTokens: true)
        let body = try Self.object(try await ex.encodeCountRequest().body)
        #expect(Set(body.keys) == ["request"])
        let request = try #require(body["request"] as? [String: Any])
        #expect(Set(request.keys) == ["model", "contents"])
        #expect(request["model"] as? String == "models/gemini-2.5-pro")
        #expect(try Self.object(try await ex.translateCountReply(Array(#"{"totalTokens":9}"#.utf8)))["input_tokens"] as? Int == 9)
    }

    @Test func codeAssistQuotaDelayComesFromMetadataOrMessage() async throws {
        let ex = try await Self.exchange("openai", "gemini", patch: "gemini-cli", model: "gemini-2.5-pro", account: ["project_id": "proj-7"])
        let metadata = #"{"error":{"code":429,"message":"You have exhausted your capacity on this model.","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"RATE_LIMIT_EXCEEDED","metadata":{"quotaResetDelay":"1m2.5s"}}]}}"#
        #expect(try await ex.examineError(status: 429, body: Array(metadata.utf8)).0.retryAfter == 63)
        let message = #"{"error":{"code":429,"message":"Your quota will reset after 17s.","status":"RESOURCE_EXHAUSTED"}}"#
        #expect(try await ex.examineError(status: 429, body: Array(message.utf8)).0.retryAfter == 17)
        // RetryInfo, when present, is the delay (1.9's first source): left alone.
        let retryInfo = #"{"error":{"code":429,"message":"reset after 99s.","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"5s"},{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"RATE_LIMIT_EXCEEDED","metadata":{"quotaResetDelay":"40s"}}]}}"#
        #expect(try await ex.examineError(status: 429, body: Array(retryInfo.utf8)).0.retryAfter == 5)
    }

    // MARK: qwen (providers.md 6.1)

    @Test func qwenGetsExactlyOneSystemMessageFirst() async throws {
        let chat = #"{"model":"m","stream":true,"messages":[{"role":"system","content":"First."},{"role":"user","content":"hi"},{"role":"assistant","content":"hello"},{"role":"developer","content":[{"type":"text","text":"Second."}]},{"role":"user","content":"again"}]}"#
        let ex = try await Self.exchange("openai", "openai", patch: "qwen", model: "qwen3-coder-plus")
        let body = try Self.object(try await ex.encodeUpstream(from: Array(chat.utf8)).body)
        let messages = try #require(body["messages"] as? [[String: Any]])
        #expect(messages.map { $0["role"] as? String } == ["system", "user", "assistant", "user"])
        let parts = try #require(messages[0]["content"] as? [[String: Any]])
        #expect(parts.map { $0["text"] as? String } == ["First.", "Second."])
        #expect(parts.last?["cache_control"] != nil && parts.first?["cache_control"] == nil)
        // A Chat client's stream comes back as it is: no usage chunk it did not ask for.
        #expect(body["stream_options"] == nil)

        // From another dialect, and without any system text: still one, first;
        // the stream asks for usage, which the proxy translates and reports.
        let claude = #"{"model":"m","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}"#
        let cx = try await Self.exchange("claude", "openai", patch: "qwen", model: "qwen3-coder-plus")
        let cbody = try Self.object(try await cx.encodeUpstream(from: Array(claude.utf8)).body)
        let cm = try #require(cbody["messages"] as? [[String: Any]])
        #expect(cm.map { $0["role"] as? String } == ["system", "user"])
        #expect((cbody["stream_options"] as? [String: Any])?["include_usage"] as? Bool == true)
    }

    @Test func qwenQuotaIsA429WithTheQuotaWord() async throws {
        let ex = try await Self.exchange("openai", "openai", patch: "qwen", model: "qwen3-coder-plus")
        let body = #"{"error":{"message":"Free allocated quota exceeded.","type":"invalid_request_error","code":"quota_exceeded"}}"#
        let (info, reply) = try await ex.examineError(status: 403, body: Array(body.utf8))
        #expect(info.status == 429 && info.type == "quota")
        #expect(reply.status == 429)
        // Another 403 is left as it is.
        let (other, _) = try await ex.examineError(status: 403, body: Array(#"{"error":{"message":"forbidden","type":"permission_error"}}"#.utf8))
        #expect(other.status == 403)
    }

    /// The hook alone: an HTTP-date Retry-After becomes seconds from the request's start.
    @Test func qwenRetryAfterDateBecomesSeconds() throws {
        let program = try JQProgram(source: #"import "providers/qwen" as q; .ctx as $ctx | .body | q::error($ctx)"#, libraryPaths: [Self.root])
        let input = #"{"ctx":{"created":\#(Self.created)},"body":{"status":429,"headers":{"retry-after":"Wed, 24 Jun 2026 17:26:21 GMT"},"body":{"error":{"message":"slow down"}}}}"#
        let out = try program.run(owned: try JV.parse(Array(input.utf8)))
        defer { jv_free(out) }
        let result = try Self.object(JSONWriter.bytes(out))
        #expect((result["headers"] as? [String: Any])?["retry-after"] as? String == "60")
    }

    // MARK: fixtures find their provider

    @Test func patchFoldersResolveToTheirProvidersDialect() async throws {
        let source = try await Self.shared.value.source
        #expect(FixtureSuite.patchTarget("gemini-cli", in: source) == .init(patch: "gemini-cli", provider: "gemini-cli", dialect: "gemini", streamOnly: false))
        #expect(FixtureSuite.patchTarget("codex", in: source) == .init(patch: "codex", provider: "codex", dialect: "responses", streamOnly: true))
        #expect(FixtureSuite.patchTarget("claude-oauth", in: source) == .init(patch: "claude-oauth", provider: "claude", dialect: "claude", streamOnly: false))
        #expect(FixtureSuite.patchTarget("qwen", in: source)?.dialect == "openai")
        #expect(FixtureSuite.patchTarget("no-such-patch", in: source) == nil)
        for (patch, hooks) in [("gemini-cli", ["request", "response", "event", "count_request", "error"]), ("codex", ["request", "headers", "event", "error"]),
                               ("claude-oauth", ["request", "headers", "count_request"]), ("qwen", ["request", "error"])] {
            #expect(source.patches[patch] == Set(hooks), "\(patch)")
        }
    }
}
