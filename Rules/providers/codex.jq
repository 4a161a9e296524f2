# ChatGPT accounts (Codex) talk to chatgpt.com/backend-api/codex, a Responses
# endpoint with a narrower profile than the public API (providers.md 4.1–4.4).
# The responses rules encode the body; this module holds the backend's own
# rules: what it accepts, the account headers, and what its errors mean.

# Top-level fields sent to the backend: an allow-list, because it answers 400
# to fields it does not know (providers.md 4.3 "Recommend"). The list is what
# the Codex CLI itself sends on this path (wire-formats B.5: model,
# instructions, input, tools, tool_choice, parallel_tool_calls, reasoning,
# store, stream, include, prompt_cache_key, text) plus service_tier, which
# the backend takes only as "priority" (4.3). Everything else of B.1 is left
# out on purpose: previous_response_id, conversation and background need
# stored responses (B.1, B.3; nothing is stored here); prompt_cache_retention,
# safety_identifier, stream_options, truncation, user, context_management,
# max_output_tokens, temperature and top_p are the fields the reference had
# to delete for this backend (4.3); metadata, prompt, max_tool_calls and
# top_logprobs are not part of what Codex sends, so nothing says the backend
# takes them.
def _allowed:
  {model: true, instructions: true, input: true, tools: true, tool_choice: true,
   parallel_tool_calls: true, reasoning: true, store: true, stream: true, include: true,
   prompt_cache_key: true, text: true, service_tier: true};

# 4.3: the backend refuses tool names longer than 64 characters, which MCP
# tools reach easily (mcp__<server>__<tool>). A long name is sent short —
# mcp__<server>__<tool> becomes mcp__<tool>, cut to 64 — with _1, _2, … on a
# collision, and every name in the answer is mapped back. The map is not
# stored anywhere: it is a function of the names in the client's request
# ($ctx.request, read without knowing its dialect: every string `name`),
# so the request and the answer compute the same one. Short names are
# never touched; with none longer than 64 the map is empty.
def _cut($n): .[:$n];
def _short:
  (if startswith("mcp__") then (split("__") | if length >= 3 then "mcp__" + .[-1] else join("__") end) else . end) | _cut(64);
def _name_map($ctx):
  ([$ctx.request | .. | objects | .name? | strings] | unique) as $all
  | reduce ($all[] | select(length > 64)) as $long
      ({long: {}, used: ($all | map(select(length <= 64)) | map({key: ., value: true}) | from_entries)};
       .used as $used
       | ($long | _short) as $base
       | (first(range(0; 10000) as $i
                | (if $i == 0 then $base else ($base | _cut(64 - ($i | tostring | length) - 1)) + "_" + ($i | tostring) end)
                | select(. as $c | $used[$c] != true))) as $pick
       | .long[$long] = $pick | .used[$pick] = true)
  | .long;

# The map's reverse (short → long), for answers.
def _long_names($ctx): _name_map($ctx) | to_entries | map({key: .value, value: .key}) | from_entries;

# Renames a `name` by the map; anything else is left as it is.
def _rename($map): if type == "object" and (.name | type) == "string" and $map[.name] != null then .name = $map[.name] else . end;

def request($ctx):
  _name_map($ctx) as $short
  | with_entries(select(_allowed[.key] == true))
  | (if $short == {} then .
     else (if (.tools | type) == "array" then .tools |= map(_rename($short)) else . end)
          | (if (.tool_choice | type) == "object" then .tool_choice |= _rename($short) else . end)
          | (if (.input | type) == "array" then .input |= map(if type == "object" and .type == "function_call" then _rename($short) else . end) else . end)
     end)
  | (if .service_tier != "priority" then del(.service_tier) else . end)
  # 4.3: `instructions` must be present; "" is accepted (never a fake prompt)
  | (if (.instructions | type) != "string" then setpath(["instructions"]; "") else . end)
  # 4.3: a string input is one user message (B.1 easy form, sent as an item)
  | (if (.input | type) == "string" then
       setpath(["input"]; [{type: "message", role: "user", content: [{type: "input_text", text: .input}]}])
     else . end)
  # 4.3: system text goes in as developer items; a Responses client may
  # still send role "system" in `input` (B.2), which passes through the rules
  | (if (.input | type) == "array" then
       setpath(["input"]; .input | map(if type == "object" and .role == "system" then setpath(["role"]; "developer") else . end))
     else . end)
  # 4.3: the backend knows the hosted search tool only as `web_search`
  | (if (.tools | type) == "array" then
       setpath(["tools"]; .tools | map(if type == "object" and ((.type // "") | tostring | startswith("web_search_preview"))
                                        then setpath(["type"]; "web_search") else . end))
     else . end)
  # 4.3, B.3: nothing is stored (store false), so reasoning survives a turn
  # only as encrypted content; ask for it whenever reasoning is on, as Codex
  # does (B.5). Every model of this backend is a GPT-5 reasoning model that
  # reasons by default, so reasoning is on unless the effort is "none" — also
  # when the client said nothing (the reference's translators always asked
  # for it, 4.3), so that a client that carries signatures can replay them.
  | (if (.reasoning | if type == "object" then .effort else null end) != "none" then
       ((.include // []) | if type == "array" then . else [] end) as $inc
       | setpath(["include"]; if any($inc[]; . == "reasoning.encrypted_content") then $inc else $inc + ["reasoning.encrypted_content"] end)
     else . end)
  # 4.1, 4.3: always streamed upstream, even for a non-stream client (the
  # server folds the stream, `stream_only` in codex.json); never stored
  | setpath(["stream"]; true)
  | setpath(["store"]; false);

# Account headers (providers.md 4.2). chatgpt-account-id selects the ChatGPT
# workspace the token belongs to. `originator` is the client's own value
# when it sent one (forwarded, codex.json `forward_headers`), else this
# product's name: cliproxy never says it is the Codex CLI (providers.md,
# opening: honest identity). session_id ties the backend's prompt cache to
# the conversation: the client's, else the body's prompt_cache_key (4.2,
# mature reference); without either none is sent.
def headers($ctx):
  {"chatgpt-account-id": ($ctx.account.account_id // null),
   "openai-beta": "responses=experimental",
   "originator": ($ctx.headers.originator // "cliproxy"),
   "session_id": ($ctx.headers.session_id // (.prompt_cache_key | if type == "string" and . != "" then . else null end))};

# Events that carry a function call's name (4.3, the long-name map above):
# an output item added or done, and the completed response's output. Other
# events — nearly all of a stream — pass after one type test.
def event($ctx):
  if (.data | type) != "object" then .
  elif (.data.item | type) == "object" and .data.item.type == "function_call" then
    _long_names($ctx) as $long | if $long == {} then . else .data.item |= _rename($long) end
  elif (.data.response.output | type) == "array" and any(.data.response.output[]; type == "object" and .type == "function_call") then
    _long_names($ctx) as $long | if $long == {} then . else .data.response.output |= map(_rename($long)) end
  else . end;

# resets_at, resets_in_seconds: a number, or a numeric string; anything else is no delay.
def _number: if type == "number" then . elif type == "string" then (tonumber? // null) else null end;

# Errors (providers.md 4.4), before the responses rules decode them:
# - "Selected model is at capacity" (an HTTP 503 body, or another status)
#   is a rate limit for this account and model: status 429, so the server
#   cools it down and tries another instead of failing the request. The
#   backend puts a code such as server_is_overloaded beside that message,
#   which the responses rules read as "overloaded" before they look at the
#   status; the error's type becomes rate_limit_error, which they read first
#   (the code stays as it came).
# - usage_limit_reached (the plan's window is used up) says when it resets:
#   resets_at (unix seconds) minus the request's start ($ctx.created), else
#   resets_in_seconds. That becomes `retry-after` in seconds, replacing the
#   upstream's header if any: the reset time is the more precise of the two
#   and a short generic header would send the server back too early.
def error($ctx):
  (.body | if type == "string" then . else tojson end | test("model is at capacity"; "i")) as $capacity
  | (if $capacity then
       setpath(["status"]; 429)
       | if (.body | type) == "object" and (.body.error | type) == "object" then setpath(["body", "error", "type"]; "rate_limit_error") else . end
     else . end)
  | (if (.body | type) == "object" and (.body.error | type) == "object" then .body.error else {} end) as $e
  | if $e.type == "usage_limit_reached" or $e.code == "usage_limit_reached" then
      (($e.resets_at | _number | if . != null and . > $ctx.created then . - $ctx.created else null end)
       // ($e.resets_in_seconds | _number | if . != null and . >= 0 then . else null end)) as $wait
      | if $wait == null then . else setpath(["headers", "retry-after"]; ($wait | ceil | tostring)) end
    else . end;
