# HTTP errors of the Responses API: the same body as Chat Completions (A.7,
# B.8) {"error": {message, type, param, code}}.

import "responses/parts" as p;

def _header($h; $name):
  if ($h | type) == "object" then [$h | to_entries[] | select(.key | ascii_downcase == $name) | .value] | .[0]
  else null end;

def _seconds: if type == "number" then . elif type == "string" then (try tonumber catch null) else null end;

def decode($ctx):
  (.status // 500) as $st
  | (.body | if type == "object" and (.error | type) == "object" then .error
      elif type == "object" and (.message | type) == "string" then .
      # the ChatGPT Codex backend also answers {"detail": "..."} (providers.md 4.3)
      elif type == "object" and (.detail | type) == "string" then {message: .detail}
      elif type == "string" and . != "" then {message: .}
      else {message: "upstream returned HTTP \($st)"} end) as $e
  | ($e.code | if type == "string" then . elif type == "number" then tostring else null end) as $code
  | p::error_type($st; $code; $e.type) as $t
  # retry-after when the runtime hands headers over, else the message's
  # "Please try again in 20s" (the only place OpenAI bodies say it)
  | ((_header(.headers; "retry-after") | _seconds)
     // ((_header(.headers; "retry-after-ms") | _seconds) | if . then . / 1000 else null end)
     # Codex backend usage limits (providers.md 4.4, 11.3)
     // ($e.resets_in_seconds | _seconds)
     // ($e.resets_at | _seconds | if . and ($ctx.created | type) == "number" and . > $ctx.created then . - $ctx.created else null end)
     // ($e.message | p::retry_from_message)) as $retry
  | {status: $st, type: $t, message: ($e.message // "upstream returned HTTP \($st)" | tostring)}
  + (if $code then {code: $code} else {} end)
  + (if ($e.param | type) == "string" then {param: $e.param} else {} end)
  + (if $retry then {retry_after: $retry} else {} end);

# IR error -> OpenAI error (E.6, pitfall 63). The status follows the error's
# kind (Anthropic's 529 becomes 503).
def encode($ctx):
  (.type // "server") as $t
  | (if $t == "invalid_request" and (.status // 0) >= 400 and .status < 500 and .status != 429 then .status
     elif $t == "server" and (.status // 0) >= 500 and .status < 600 then .status
     else ($t | p::status_for_type) end) as $st
  | {invalid_request: "invalid_request_error", authentication: "authentication_error", permission: "permission_error",
     not_found: "not_found_error", too_large: "invalid_request_error", context_length: "invalid_request_error",
     rate_limit: "rate_limit_error", quota: "insufficient_quota", overloaded: "server_error",
     timeout: "server_error", server: "server_error"}[$t] as $type
  # Codex reacts to these three codes (B.5); otherwise the upstream's code wins
  | {context_length: "context_length_exceeded", quota: "insufficient_quota", rate_limit: "rate_limit_exceeded"}[$t] as $fixed
  | {overloaded: "overloaded", timeout: "timeout", authentication: "invalid_api_key",
     not_found: "model_not_found", too_large: "request_too_large"}[$t] as $default
  | {status: $st,
     headers: (if (.retry_after | type) == "number" then {"retry-after": (.retry_after | ceil | tostring)} else {} end),
     body: {error: {message: (.message // "error"), type: ($type // "server_error"),
       param: (.param // null), code: ($fixed // (if (.code | type) == "string" then .code else $default end))}}};
