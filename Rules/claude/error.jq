# Anthropic errors (section C.9, table E.6).
#   decode($ctx)  {status, body[, headers]} from an Anthropic upstream -> IR error
#   encode($ctx)  IR error -> {status, headers, body} for a Claude client
# Body: {"type":"error","error":{"type","message"},"request_id":"req_…"}

# Anthropic error.type -> IR type (open-ended on the wire: unknown types
# fall back to the HTTP status).
def _ir_type($status; $message):
  if . == "invalid_request_error" then
    # E.6: an over-long prompt is a 400 invalid_request_error too
    (if ($message | type) == "string" and ($message | test("prompt is too long"; "i")) then "context_length" else "invalid_request" end)
  elif . == "authentication_error" then "authentication"
  elif . == "billing_error" then "quota"
  elif . == "permission_error" then "permission"
  elif . == "not_found_error" then "not_found"
  elif . == "request_too_large" then "too_large"
  elif . == "rate_limit_error" then "rate_limit"
  elif . == "timeout_error" then "timeout"
  elif . == "overloaded_error" then "overloaded"
  elif . == "api_error" then "server"
  elif $status == 400 or $status == 409 or $status == 422 then "invalid_request"
  elif $status == 401 then "authentication"
  elif $status == 402 then "quota"
  elif $status == 403 then "permission"
  elif $status == 404 then "not_found"
  elif $status == 408 or $status == 504 then "timeout"
  elif $status == 413 then "too_large"
  elif $status == 429 then "rate_limit"
  elif $status == 503 or $status == 529 then "overloaded"
  else "server" end;

# The HTTP status that goes with an Anthropic error type (C.9), for errors
# that arrive inside a 200 stream.
def status_for_type:
  {invalid_request_error: 400, authentication_error: 401, billing_error: 402, permission_error: 403,
   not_found_error: 404, request_too_large: 413, rate_limit_error: 429, api_error: 500,
   timeout_error: 504, overloaded_error: 529}[. // "api_error"] // 500;

# retry-after, when the runtime hands the headers over (the body never has it).
def _retry_after:
  (.headers // {}) | if type == "object" then (to_entries | map(select(.key | ascii_downcase == "retry-after")) | .[0].value) else null end
  | if type == "number" then .
    elif type == "string" then ([tonumber?] | .[0])
    else null end;

# An Anthropic error object ({type, message}) -> IR error.
def from_error_object($status):
  (if type == "object" then . else {} end) as $e
  | ($e.type | _ir_type($status; $e.message)) as $t
  | {status: $status, type: $t,
     message: (if ($e.message | type) == "string" then $e.message else "Anthropic API error (\($status))" end)};

def decode($ctx):
  (.status // 500) as $status
  | _retry_after as $retry
  | (.body // null) as $b
  | (if ($b | type) == "object" and ($b.error | type) == "object" then $b.error | from_error_object($status)
     # not an Anthropic body (an edge proxy's HTML or text): keep the text
     else {} | from_error_object($status)
       | if ($b | type) == "string" and ($b | length) > 0 then .message = $b[:2000] else . end end)
  | if $retry != null then .retry_after = $retry else . end;

# IR type -> Anthropic status and error.type (C.9, E.6). quota -> 402
# billing_error (E.6 "out of credit"); context_length -> 400 as Anthropic
# answers a too-long prompt.
def wire_type:
  {invalid_request: "invalid_request_error", authentication: "authentication_error", permission: "permission_error",
   not_found: "not_found_error", too_large: "request_too_large", context_length: "invalid_request_error",
   rate_limit: "rate_limit_error", quota: "billing_error", overloaded: "overloaded_error",
   timeout: "timeout_error", server: "api_error"}[.type // "server"] // "api_error";

def wire_error:
  {type: wire_type, message: (if (.message | type) == "string" and .message != "" then .message else "Internal server error" end)};

# The status follows the error type (E.6: overloaded is 529 for Anthropic
# clients whatever the upstream said), except that a request error keeps its
# own 4xx (405, 413, 415, …) and a server error its own 5xx (502, 504, …),
# as the OpenAI encoders do.
def encode($ctx):
  wire_type as $t
  | (.type // "server") as $it
  | (if $it == "invalid_request" and (.status // 0) >= 400 and .status < 500 and .status != 429 then .status
     elif $it == "server" and (.status // 0) >= 500 and .status < 600 then .status
     else ($t | status_for_type) end) as $st
  | {status: $st,
     headers: (if (.retry_after | type) == "number" then {"retry-after": (.retry_after | ceil | tostring)} else {} end),
     body: {type: "error", error: wire_error, request_id: "req_\($ctx.request_id)"}};
