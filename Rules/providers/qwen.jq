# Qwen Code accounts talk to portal.qwen.ai (or the account's resource_url),
# an OpenAI Chat endpoint with stricter rules about the shape of the
# conversation (providers.md 6.1). The openai rules encode the body; this
# module fixes what Qwen insists on.

def _system_role: type == "object" and (.role == "system" or .role == "developer");

# A system message's content -> text parts (Chat system content is a string
# or text parts, A.2); an empty string gives none.
def _text_parts:
  if type == "string" then (if . == "" then [] else [{type: "text", text: .}] end)
  elif type == "array" then map(if type == "string" then {type: "text", text: .} elif type == "object" and .type == "text" then . else empty end)
  else [] end;

# 6.1: exactly one system message, first — Qwen enforces strict message
# ordering. Every system (and developer: Qwen has no such role) message of
# the conversation is merged into it, in order; a mid-conversation one
# moves to the front (pitfall 2's alternative, the only one Qwen accepts).
# The parts stay separate text parts and the last one carries
# cache_control, so that with X-Dashscope-Cachecontrol (qwen.json) the
# whole system prompt is the cached prefix. Without any system text the
# message still comes first, holding one empty part: the form the mature
# reference always sent (6.1), known to be accepted.
# 6.1: a stream asks for the usage chunk (include_usage), which the proxy
# needs to report usage in the other dialects. A Chat client's stream is
# relayed as it comes, so there the client's own choice stands: a chunk
# with empty `choices` that it did not ask for breaks clients that read
# choices[0] of every chunk.
def request($ctx):
  (if (.messages | type) == "array" then
     ([.messages[] | select(_system_role) | .content | _text_parts] | add // []) as $parts
     | (if $parts == [] then [{type: "text", text: ""}] else $parts end) as $parts
     | setpath(["messages"];
         [{role: "system", content: ($parts[:-1] + [$parts[-1] + {cache_control: {type: "ephemeral"}}])}]
         + [.messages[] | select(_system_role | not)])
   else . end)
  | if .stream != true or $ctx.client == "openai" then .
    elif (.stream_options | type) != "object" then setpath(["stream_options"]; {include_usage: true})
    else setpath(["stream_options", "include_usage"]; true) end;

# A Retry-After value: a number, or a numeric string; anything else is no delay.
def _number: if type == "number" then . elif type == "string" then (tonumber? // null) else null end;

# Quota errors (6.1): 403 or 429 with code/type insufficient_quota or
# quota_exceeded, or the message "free allocated quota exceeded". They
# become 429 with code insufficient_quota, the word the openai rules read
# as a quota error (E.6), so the server cools the account down instead of
# failing every request on it. A Retry-After given as an HTTP date becomes
# seconds from the request's start ($ctx.created); seconds stay as they are.
def error($ctx):
  (if (.body | type) == "object" then (if (.body.error | type) == "object" then .body.error else .body end)
   elif (.body | type) == "string" then {message: .body} else {} end) as $e
  | (any($e.code, $e.type; . == "insufficient_quota" or . == "quota_exceeded")
     or ($e.message | type == "string" and test("free allocated quota exceeded"; "i"))) as $quota
  | (if $quota and (.status == 403 or .status == 429) then
       setpath(["status"]; 429)
       | setpath(["body"]; {error: ($e + {code: "insufficient_quota"})})
     else . end)
  | (.headers["retry-after"] // null) as $ra
  | if ($ra | type) == "string" and ($ra | _number) == null then
      ((try ($ra | strptime("%a, %d %b %Y %H:%M:%S GMT") | mktime) catch null)) as $at
      | if $at == null then . else setpath(["headers", "retry-after"]; ([$at - $ctx.created, 0] | max | tostring)) end
    else . end;
