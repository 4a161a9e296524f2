# OpenAI errors (wire-formats.md A.7, E.6) <-> IR error.
import "openai/common" as c;

# A `retry-after` header in seconds (any case), when the runtime hands the
# headers over. An HTTP-date form is left to the provider patch that sends
# it (providers/qwen.jq turns it into seconds first).
def _retry_header:
  (.headers // {}) | if type == "object" then (to_entries | map(select(.key | ascii_downcase == "retry-after")) | .[0].value) else null end
  | if type == "number" then . elif type == "string" then ([tonumber?] | .[0]) else null end;

# {status, headers, body} -> IR error. The body may be the raw text of a
# non-JSON answer (a gateway's HTML page). The retry delay is the
# `retry-after` header when there is one (pitfall 63: what the server cools
# the account by), else OpenAI's "Please try again in 37s" wording.
def decode($ctx):
  if type != "object" then error("error: must be an object with status and body") else . end
  | _retry_header as $retry
  | c::error_to_ir((.status | if type == "number" then . else null end) // 500; .body)
  | if $retry != null then .retry_after = $retry else . end;

# IR error -> {status, headers, body} (A.7). A known retry delay becomes the
# `retry-after` header (seconds) that openai-python honours (pitfall 63).
def encode($ctx):
  {status: c::status_for_error,
   headers: (if (.retry_after | type) == "number" then {"retry-after": (.retry_after | ceil | tostring)} else {} end),
   body: {error: c::error_object}};
