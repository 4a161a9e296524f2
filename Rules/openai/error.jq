# OpenAI errors (wire-formats.md A.7, E.6) <-> IR error.
import "openai/common" as c;

# {status, body} -> IR error. The body may be the raw text of a non-JSON
# answer (a gateway's HTML page); the retry delay comes from OpenAI's
# "Please try again in 37s" wording, the only place the body has it.
def decode($ctx):
  if type != "object" then error("error: must be an object with status and body") else . end
  | c::error_to_ir((.status | if type == "number" then . else null end) // 500; .body);

# IR error -> {status, headers, body} (A.7). A known retry delay becomes the
# `retry-after` header (seconds) that openai-python honours (pitfall 63).
def encode($ctx):
  {status: c::status_for_error,
   headers: (if (.retry_after | type) == "number" then {"retry-after": (.retry_after | ceil | tostring)} else {} end),
   body: {error: c::error_object}};
