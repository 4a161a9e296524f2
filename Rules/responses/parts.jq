# Responses (OpenAI /v1/responses, Codex CLI) <-> IR building blocks shared by
# request.jq, response.jq and stream.jq: content parts, output items, tool
# calls, signature carriers, usage, stop reasons, error codes.

import "lib/json" as j;
import "lib/dataurl" as du;

def _nonnull: with_entries(select(.value != null));

# ---------------------------------------------------------------- carriers
# Signature carriers (README "Signature carriers", pitfall 45). A Responses
# client (Codex) has exactly one opaque slot that it echoes back verbatim with
# store:false: a reasoning item's `encrypted_content`. Foreign signatures
# (Claude thinking, Gemini thoughtSignature) ride there as
# `cpx1.<origin>.<base64 of the JSON IR part>` and are unwrapped on the next
# request. (Candidate for lib/: every dialect with such a slot needs it.)

def carrier_wrap: "cpx1.\(.signature.origin).\(tojson | @base64)";

# String -> the IR part it carries, or null when it is not a carrier.
def carrier_unwrap:
  if type == "string" and startswith("cpx1.") then
    (split(".")) as $f
    | if ($f | length) != 3 then null
      else ([$f[2] | try (@base64d | fromjson) catch null] | .[0]) as $p
        | if ($p | type) == "object" and ($p.signature | type) == "object" and $p.signature.origin == $f[1]
          then $p else null end
      end
  else null end;

# The IR signature of an encrypted_content value that is not a carrier.
def own_signature: {origin: "responses", value: .};

# ---------------------------------------------------------------- content in
# One Responses content part -> one IR part. $at is the field path for errors.
def part_in($at):
  if type != "object" then error("\($at): expected an object")
  elif .type == "input_text" or .type == "output_text" or .type == "text" or .type == "summary_text" then
    if (.text | type) != "string" then error("\($at).text: expected a string") else {type: "text", text} end
  elif .type == "refusal" then {type: "refusal", text: (.refusal // "")}
  elif .type == "input_image" then
    # pitfall 31: image_url is a plain string (URL or data URL), not Chat's {url}
    (if .image_url != null and (.image_url | type) != "string" then error("\($at).image_url: expected a string") else . end)
    | (.image_url | du::parse_data_url) as $d
    | {type: "image"}
      + (if $d then $d elif .image_url then {url: .image_url} else {} end)
      # "auto" is the default everywhere: the IR keeps only a real choice
      + (if .detail and .detail != "auto" then {detail} else {} end)
      # the IR image has no file_id slot: keep it for Responses only (pitfall 34)
      + (if .file_id then {ext: {responses: {file_id}}} else {} end)
  elif .type == "input_file" then
    (.file_data | if type == "string" then (du::parse_data_url // {data: .}) else null end) as $d
    | {type: "file"} + ($d // {})
      + (if .file_url then {url: .file_url} else {} end)
      + (if .file_id then {file_id} else {} end)
      + (if .filename then {filename} else {} end)
  elif .type == "input_audio" then
    {type: "audio", format: (.input_audio.format // .format), data: (.input_audio.data // .data)}
  else error("\($at).type: unsupported content part type \(.type | tojson)") end;

# A message's content (string or parts) -> [IR part].
def content_in($at):
  if type == "string" then [{type: "text", text: .}]
  elif type == "array" then [to_entries[] | .key as $k | .value | part_in("\($at)[\($k)]")]
  elif . == null then []
  else error("\($at): expected a string or an array of content parts") end;

# ---------------------------------------------------------------- content out
# IR part -> Responses input content part (user, system, tool output).
def input_part:
  if .type == "text" then {type: "input_text", text}
  elif .type == "image" then
    {type: "input_image"}
    + (if .ext.responses.file_id then {file_id: .ext.responses.file_id}
       elif .data then {image_url: du::to_data_url(.media_type; .data)}
       else {image_url: .url} end)
    # openai-python requires detail (Codex omits it; both are accepted)
    + {detail: (.detail // "auto")}
  elif .type == "file" then
    {type: "input_file"}
    + (if .file_id then {file_id}
       elif .data then {file_data: du::to_data_url(.media_type; .data)}
       elif .url then {file_url: .url}
       else {} end)
    + (if .filename then {filename} elif .data and .file_id == null then {filename: "file"} else {} end)
  elif .type == "refusal" then {type: "input_text", text}
  # openai-python has this part type (ResponseInputAudioParam) though B.2 does
  # not list it for messages: ambiguous, sent rather than silently dropped
  elif .type == "audio" then {type: "input_audio", input_audio: {data, format}}
  else empty end;

# ---------------------------------------------------------------- tool calls
# local_shell (pitfall 24): the IR keeps the arguments of the function other
# dialects declare for it, {"command": [...], "workdir", "timeout_ms"}; the
# rest of the exec action (env, user) rides along only when set.
def shell_args_in:
  (.action // {}) | {command: (.command // []), workdir: .working_directory, timeout_ms,
    env: (if (.env | type) == "object" and (.env | length) > 0 then .env else null end), user}
  | _nonnull | tojson;

def shell_action_out:
  j::args_object
  | (.command | if type == "string" then ["bash", "-lc", .] elif type == "array" then . else [] end) as $cmd
  | {type: "exec", command: $cmd, timeout_ms, working_directory: .workdir,
     env: (if (.env | type) == "object" then .env else {} end), user}
  | _nonnull;

# Call item -> IR tool_call; call_id is the id, never the fc_ item id (pitfall 11).
def call_in($at):
  (if (.call_id | type) != "string" or .call_id == "" then error("\($at).call_id: field required") else . end)
  | if .type == "function_call" then
      (if (.name | type) != "string" then error("\($at).name: field required") else . end)
      | {type: "tool_call", id: .call_id, name, kind: "function",
         # pitfall 16: the IR keeps the JSON text, even when the model got it wrong
         arguments: (.arguments | if type == "string" then (if . == "" then "{}" else . end) else j::args_text end)}
      + (if .namespace then {ext: {responses: {namespace}}} else {} end)
    elif .type == "custom_tool_call" then
      (if (.name | type) != "string" then error("\($at).name: field required") else . end)
      # pitfall 23: a freeform call is the object {"input": <raw text>}
      | {type: "tool_call", id: .call_id, name, kind: "custom", arguments: ({input: (.input // "")} | tojson)}
    else # local_shell_call
      {type: "tool_call", id: .call_id, name: "local_shell", kind: "local_shell", arguments: shell_args_in}
    end;

# The custom tool's raw input from IR arguments {"input": ...}.
def custom_input:
  j::args_object | if has("input") then (.input | if type == "string" then . else tojson end)
    elif has("_raw_arguments") then ._raw_arguments else tojson end;

# IR tool_call -> call item. $id: the item id (response side) or null
# (request side: Codex never sends fc_ ids back, B.5; and request items carry
# no status except local_shell_call, where the SDK requires it).
def call_out($id):
  (if $id then {id: $id} else {} end) as $i
  | (if $id then {status: "completed"} else {} end) as $st
  | if .kind == "custom" then $i + {type: "custom_tool_call"} + $st + {call_id: .id, name, input: (.arguments | custom_input)}
    elif .kind == "local_shell" then $i + {type: "local_shell_call", call_id: .id, status: "completed", action: (.arguments | shell_action_out)}
    else
      (if $id then $i + {type: "function_call"} + $st + {arguments: (.arguments | j::args_text), call_id: .id, name}
       # the order Codex sends (B.5)
       else {type: "function_call", name, arguments: (.arguments | j::args_text), call_id: .id} end)
      + (if .ext.responses.namespace then {namespace: .ext.responses.namespace} else {} end)
    end;

# pitfall 23, 24: other dialects call a Codex freeform tool or local_shell as
# a plain function (arguments {"input": ...} / {"command": [...]}); the
# client's own tool list says which kind it declared, so the call goes back
# as the item type the client expects (custom_tool_call, local_shell_call).
def client_kind($ctx):
  if (.kind // "function") != "function" then .kind
  else .name as $n
    | ([$ctx.request.tools? // [] | .[]? | select(type == "object")
        | select((.type == "custom" and .name == $n) or (.type == "local_shell" and $n == "local_shell"))
        | .type] | .[0]) as $t
    | if $t == "custom" then "custom" elif $t == "local_shell" then "local_shell" else "function" end
  end;

def is_call_item: .type == "function_call" or .type == "custom_tool_call" or .type == "local_shell_call";

# ---------------------------------------------------------------- reasoning
# Summary paragraphs are joined with a blank line: one IR reasoning part per
# reasoning item, because the item's one encrypted_content signs them all
# (ambiguous; the stream decoder joins summary_index parts the same way).
def reasoning_text:
  ([.summary[]? | .text? // empty] | join("\n\n")) as $s
  | if $s != "" then $s else ([.content[]? | select(.type == "reasoning_text") | .text // empty] | join("\n\n")) end;

# Reasoning item -> IR part (or a carried foreign part), or nothing when the
# item holds nothing replayable nor readable (pitfall 51: an item without
# encrypted_content or id cannot be replayed with store:false).
def reasoning_in:
  (.encrypted_content | carrier_unwrap) as $carried
  | if $carried then $carried
    else reasoning_text as $t
      | if .encrypted_content == null and .id == null and $t == "" then empty
        else {type: "reasoning", text: $t}
          + (if (.encrypted_content | type) == "string" then {signature: (.encrypted_content | own_signature)} else {} end)
          + ( ({id: (if .encrypted_content == null then .id else null end),
                content: (if (.content | type) == "array" and (.content | length) > 0 then .content else null end),
                # the paragraphs as sent, so that re-encoding to Responses keeps them apart
                summary: (if (.summary | type) == "array" and (.summary | length) > 1 then .summary else null end)} | _nonnull)
              | if length > 0 then {ext: {responses: .}} else {} end)
        end
    end;

# Reasoning part -> reasoning item. Own signatures are replayed (B.3); foreign
# ones are dropped on the request side (pitfall 44, 51) or carried on the
# client side ($carry, pitfall 45).
def reasoning_out($id; $carry):
  (if .text == "" or .text == null then []
   elif .ext.responses.summary and ([.ext.responses.summary[].text?] | join("\n\n")) == .text then .ext.responses.summary
   else [{type: "summary_text", text}] end) as $summary
  | if .signature.origin == "responses" then
      (if $id then {id: $id} else {} end) + {type: "reasoning", summary: $summary}
      + (if .ext.responses.content then {content: .ext.responses.content} else {} end)
      + {encrypted_content: .signature.value}
    elif .signature != null then
      if $carry then (if $id then {id: $id} else {} end) + {type: "reasoning", summary: $summary, encrypted_content: carrier_wrap}
      else empty end
    elif $id then {id: $id, type: "reasoning", summary: $summary}
    elif .ext.responses.id then {id: .ext.responses.id, type: "reasoning", summary: $summary}
    else empty end;

# ---------------------------------------------------------------- usage (E.4)
def usage_in:
  if type != "object" then null
  else {input: (.input_tokens // 0), output: (.output_tokens // 0)}
    + (if .input_tokens_details.cached_tokens != null then {cached: .input_tokens_details.cached_tokens} else {} end)
    + (if (.input_tokens_details.cache_write_tokens // 0) > 0 then {cache_write: .input_tokens_details.cache_write_tokens} else {} end)
    + (if .output_tokens_details.reasoning_tokens != null then {reasoning: .output_tokens_details.reasoning_tokens} else {} end)
    + (if .total_tokens != null then {total: .total_tokens} else {} end)
  end;

# openai-python 3.57 declares cache_write_tokens required: send 0 when unknown
# (B.6). Codex needs integer input/output/total tokens (B.5).
def usage_out:
  (.input // 0) as $in | (.output // 0) as $out
  | {input_tokens: $in,
     input_tokens_details: {cached_tokens: (.cached // 0), cache_write_tokens: (.cache_write // 0)},
     output_tokens: $out,
     output_tokens_details: {reasoning_tokens: (.reasoning // 0)},
     total_tokens: (.total // ($in + $out))};

# ---------------------------------------------------------------- stop (E.3)
# A Response object (+ whether it holds call items) -> IR stop.
def stop_in($calls):
  if .status == "incomplete" then
    (.incomplete_details.reason // "other") as $r
    | {reason: (if $r == "max_output_tokens" then "max_tokens"
                elif $r == "content_filter" then "content_filter"
                # max_messages, steered, unknown: ambiguous (B.6) -> other
                else "other" end), raw: $r}
  elif .status == "completed" or .status == null then
    if $calls then {reason: "tool_use", raw: "completed"} else {reason: "end_turn", raw: "completed"} end
  else {reason: "other", raw: .status} end;

# IR stop -> [status, incomplete_details] (E.3 "-> Responses").
def status_out:
  (.reason // "end_turn") as $r
  | if $r == "max_tokens" or $r == "context_window" then ["incomplete", {reason: "max_output_tokens"}]
    elif $r == "content_filter" then ["incomplete", {reason: "content_filter"}]
    else ["completed", null] end;

# ---------------------------------------------------------------- errors
# OpenAI error code / type / status -> IR error type (E.6, B.5).
def error_type($status; $code; $type):
  if $code == "context_length_exceeded" then "context_length"
  elif $code == "insufficient_quota" or $type == "insufficient_quota" or $code == "usage_not_included" then "quota"
  elif $code == "rate_limit_exceeded" or $type == "rate_limit_error" or $type == "tokens" or $type == "requests"
    # ChatGPT plan limits of the Codex backend reset later: a rate limit (providers.md 4.4)
    or $type == "usage_limit_reached" or $code == "usage_limit_reached" then "rate_limit"
  elif $code == "invalid_api_key" or $type == "authentication_error" then "authentication"
  elif $code == "model_not_found" then "not_found"
  elif $code == "server_is_overloaded" or $code == "overloaded" or $code == "slow_down" then "overloaded"
  elif $status == 400 or $status == 422 or $status == 409 then "invalid_request"
  elif $status == 401 then "authentication"
  elif $status == 403 then "permission"
  elif $status == 404 then "not_found"
  elif $status == 413 then "too_large"
  elif $status == 429 then "rate_limit"
  elif $status == 408 or $status == 504 then "timeout"
  elif $status == 503 or $status == 529 then "overloaded"
  elif $status != null and $status >= 500 then "server"
  elif $status != null and $status >= 400 then "invalid_request"
  elif $code == "invalid_prompt" or ($code // "" | startswith("invalid_")) or ($code // "" | startswith("image_")) then "invalid_request"
  else "server" end;

def status_for_type:
  {invalid_request: 400, authentication: 401, permission: 403, not_found: 404, too_large: 413,
   context_length: 400, rate_limit: 429, quota: 429, overloaded: 503, timeout: 504, server: 500}[.] // 500;

# "Please try again in 1.5s" / "in 37s" / "in 200ms" -> seconds (Codex parses
# the same text, B.5). Error path only, so a regex is fine here.
def retry_from_message:
  if type != "string" then null
  else [capture("try again in (?<n>[0-9]+(\\.[0-9]+)?)(?<u>ms|s)"; "i")?] | .[0]
    | if . == null then null else (.n | tonumber) as $n | if .u == "ms" then $n / 1000 else $n end end
  end;

# IR error -> the `error` object of a failed Response (pitfall 63: Codex keys
# on these codes; anything else is retried).
def failed_error:
  {code: (if .type == "context_length" then "context_length_exceeded"
          elif .type == "quota" then "insufficient_quota"
          elif .type == "rate_limit" then "rate_limit_exceeded"
          elif (.code | type) == "string" then .code
          else "server_error" end),
   message: (.message // "upstream error")}
  + (if .type == "rate_limit" and (.retry_after | type) == "number" and ((.message // "") | test("try again in"; "i") | not)
     then {message: "\(.message // "Rate limit reached" | rtrimstr(".")). Please try again in \(.retry_after)s."} else {} end);

# Response object `error` ({code, message}) -> IR error.
def failed_in($status):
  (.code // null) as $c
  | error_type($status; $c; .type) as $t
  | {status: ($status // ($t | status_for_type)), type: $t, message: (.message // "upstream error")}
  + (if $c then {code: $c} else {} end)
  + (if .param then {param} else {} end)
  + ((.message | retry_from_message) as $r | if $r then {retry_after: $r} else {} end);
