# Chat Completions pieces shared by request, response, stream and error rules:
# usage (table E.4), finish reasons (table E.3) and error bodies (A.7, E.6).

# Drop null-valued keys: absent optional IR fields are omitted, never null.
def compact: with_entries(select(.value != null));

# Put `$v` under `$k` only when it is not null.
def put($k; $v): if $v == null then . else .[$k] = $v end;

# ---------------------------------------------------------------- usage (E.4)

# Chat usage object -> IR Usage. prompt_tokens already includes cached tokens
# and completion_tokens already includes reasoning tokens, so both map 1:1.
# A detail is kept when the wire carried it as a number (0 included).
def usage_to_ir:
  if type != "object" then null
  else
    def num: if type == "number" then . else null end;
    {input: (.prompt_tokens | num // 0),
     output: (.completion_tokens | num // 0),
     cached: ([.prompt_tokens_details.cached_tokens?][0] | num),
     cache_write: ([.prompt_tokens_details.cache_write_tokens?][0] | num),
     reasoning: ([.completion_tokens_details.reasoning_tokens?][0] | num),
     total: (.total_tokens | num)}
    | compact
  end;

# IR Usage -> Chat usage object, the fields openai-python's CompletionUsage
# declares. cache_write_tokens is SDK-new (A.4): sent only when known.
def usage_from_ir:
  (. // {}) as $u
  | ($u.input // 0) as $in | ($u.output // 0) as $out
  | {prompt_tokens: $in,
     completion_tokens: $out,
     total_tokens: ($u.total // ($in + $out)),
     prompt_tokens_details: ({cached_tokens: ($u.cached // 0)}
                             + (if $u.cache_write != null then {cache_write_tokens: $u.cache_write} else {} end)),
     completion_tokens_details: {reasoning_tokens: ($u.reasoning // 0)}};

# ------------------------------------------------------- finish reasons (E.3)

# Chat finish_reason -> IR Stop. `$calls`: the answer holds tool calls.
# "stop" covers both a natural end and a matched stop sequence; Chat does not
# say which, so it is end_turn. Several "OpenAI-compatible" servers answer
# tool calls with "stop" (E.3, pitfall 57): with calls present that is tool_use.
def stop_to_ir($calls):
  . as $f
  | {reason: (if $f == "tool_calls" or $f == "function_call" then "tool_use"
              elif $f == "length" then "max_tokens"
              elif $f == "content_filter" then "content_filter"
              elif $f == "stop" then (if $calls then "tool_use" else "end_turn" end)
              elif $calls then "tool_use"
              else "other" end)}
  | put("raw"; $f);

# IR Stop -> Chat finish_reason (E.3 "-> Chat"). A Claude `refusal` arrives as
# content_filter (pitfall 60); pause_turn and everything unknown end as "stop".
def finish_from_ir($calls):
  (.reason // "end_turn") as $r
  | if $r == "tool_use" then "tool_calls"
    elif $r == "max_tokens" or $r == "context_window" then "length"
    elif $r == "content_filter" then "content_filter"
    elif $calls and ($r == "end_turn" or $r == "other") then "tool_calls"
    else "stop" end;

# ---------------------------------------------------------- errors (A.7, E.6)

# Seconds from OpenAI's rate-limit wording "Please try again in 37s" /
# "in 1.5s" / "in 120ms" / "in 6m0s", rounded up; null when absent.
# Error path only, so the regex cost does not matter here.
def _retry_seconds:
  if type != "string" then null
  else [match("try again in ((?:[0-9.]+(?:ms|h|m|s))+)"; "i").captures[0].string] | .[0] as $span
    | if $span == null then null
      else [$span | scan("([0-9.]+)(ms|h|m|s)")
            | (.[0] | tonumber) * ({ms: 0.001, s: 1, m: 60, h: 3600}[.[1] | ascii_downcase])]
        | add | ceil
      end
  end;

def _type_for_status($status):
  if $status == 401 then "authentication"
  elif $status == 402 then "quota"
  elif $status == 403 then "permission"
  elif $status == 404 then "not_found"
  elif $status == 408 then "timeout"
  elif $status == 413 then "too_large"
  elif $status == 429 then "rate_limit"
  elif $status == 503 or $status == 529 then "overloaded"
  elif $status == 504 then "timeout"
  elif $status >= 500 then "server"
  else "invalid_request" end;

# OpenAI error `type`/`code` words that decide the IR type on their own
# (`type`/`code` are open-ended strings, A.7).
def _type_for_words($t; $c):
  if $c == "context_length_exceeded" or $t == "context_length_exceeded" then "context_length"
  elif $c == "insufficient_quota" or $t == "insufficient_quota" then "quota"
  elif $c == "rate_limit_exceeded" or $t == "rate_limit_exceeded" or $t == "rate_limit_error" or $t == "tokens" or $t == "requests" then "rate_limit"
  elif $c == "invalid_api_key" or $t == "authentication_error" then "authentication"
  elif $t == "permission_error" then "permission"
  elif $c == "model_not_found" or $t == "not_found_error" then "not_found"
  elif $c == "overloaded" or $t == "overloaded_error" or $c == "server_is_overloaded" then "overloaded"
  elif $t == "server_error" or $c == "server_error" then "server"
  else null end;

def _status_for_type:
  {invalid_request: 400, authentication: 401, permission: 403, not_found: 404,
   too_large: 413, context_length: 400, rate_limit: 429, quota: 429,
   overloaded: 503, timeout: 504, server: 500}[.];

# {status, body} (body parsed JSON, or the raw text of a non-JSON answer such
# as a gateway's HTML page) -> IR Error. `$status` null = an in-stream error
# chunk (A.5), whose status is implied by its type.
def error_to_ir($status; $body):
  ( if ($body | type) == "object" then
      ($body.error // $body) as $e
      | if ($e | type) == "object" then $e
        elif ($e | type) == "string" then {message: $e}
        else {} end
    elif ($body | type) == "string" then {message: $body}
    else {} end ) as $e
  | ($e.message // $e.detail // $e.msg) as $m
  | (if ($m | type) == "string" then $m elif $m == null then null else ($m | tojson) end) as $m
  | (if ($e.code | type) == "string" then $e.code else null end) as $code
  | ($e.type | if type == "string" then . else null end) as $t
  # vLLM/FastAPI-style bodies put the HTTP status in a numeric `code`.
  | ($status // (if ($e.code | type) == "number" then $e.code else null end)) as $st
  | (_type_for_words($t; $code) // (if $st != null then _type_for_status($st) else "server" end)) as $type
  | {status: ($st // ($type | _status_for_type)),
     type: $type,
     message: (($m // (if ($body | type) == "string" then $body else "upstream error" end)) | .[0:2000])}
  | put("code"; $code)
  | put("param"; (if ($e.param | type) == "string" then $e.param else null end))
  | put("retry_after"; ($m | _retry_seconds));

# IR Error -> the body `{"error": {message, type, param, code}}` (E.6 template).
# Status follows the IR type, so that e.g. Anthropic's 529 overloaded becomes
# OpenAI's 503 (pitfall 63). The code is the OpenAI word clients key on
# (context_length_exceeded, insufficient_quota, rate_limit_exceeded) where the
# type implies one, else the upstream's code when it has one.
def error_object:
  (.type // "server") as $t
  | {message: (.message // "error"),
     type: ({invalid_request: "invalid_request_error", authentication: "authentication_error",
             permission: "permission_error", not_found: "not_found_error",
             too_large: "invalid_request_error", context_length: "invalid_request_error",
             rate_limit: "rate_limit_error", quota: "insufficient_quota",
             overloaded: "server_error", timeout: "server_error", server: "server_error"}[$t] // "server_error"),
     param: (if (.param | type) == "string" then .param else null end),
     code: ({context_length: "context_length_exceeded", quota: "insufficient_quota",
             rate_limit: "rate_limit_exceeded", overloaded: "overloaded"}[$t]
            // (if (.code | type) == "string" then .code else null end))};

# The status a Chat client expects for the IR type (pitfall 63: Anthropic's
# 529 overloaded -> 503, Gemini's 400 API_KEY_INVALID -> 401). A status of
# the right class is kept for the two catch-all types (409/422, 502).
def status_for_error:
  (if (.status | type) == "number" then .status else null end) as $s
  | if .type == "invalid_request" and $s != null and $s >= 400 and $s < 500 and $s != 429 then $s
    elif .type == "server" and $s != null and $s >= 500 and $s < 600 and $s != 529 then $s
    else (.type | _status_for_type) // $s // 500 end;
