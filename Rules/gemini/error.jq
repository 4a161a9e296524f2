# Google error bodies (wire-formats.md D.7, E.6) <-> IR error.
import "gemini/common" as c;

# {status, body} -> IR error. The body is normally
# {"error": {code, message, status, details}}; anything else (an HTML page
# from a proxy, an empty body) is described by the HTTP status alone.
def decode($ctx): .status as $http | .body | c::ir_error($http);

# IR error -> {status, headers, body}. The HTTP status follows the error type
# (E.6: overloaded is 503 UNAVAILABLE, rate limits 429 RESOURCE_EXHAUSTED with
# RetryInfo); Gemini sends no Retry-After header, the delay is in the body.
def encode($ctx):
  c::google_error as $body
  | {status: $body.error.code, headers: {}, body: $body};
