# Gemini CLI accounts (Google login) talk to Code Assist, which speaks the
# Gemini dialect wrapped in an envelope (providers.md 1.2, wire-formats D.8,
# pitfall 67): requests go out as {model, project, request: <Gemini body>},
# replies and stream events come back as {response: <Gemini body>, traceId}.
# The Gemini rules do all the translating; this module only wraps and
# unwraps, so the gemini dialect never learns about the envelope.

# The fields Code Assist takes inside `request` (its CAGenerateContentRequest
# of D.8: plain Gemini camelCase plus the CLI's snake_case session_id).
# An allow-list: Code Assist answers 400 "Unknown name" for anything else
# (D.2's rule for unknown keys), and the Developer-API-only fields a Gemini
# client may send through passthrough (store, serviceTier: D.1) are not part
# of that request.
def _inner:
  {contents: true, systemInstruction: true, cachedContent: true, tools: true, toolConfig: true,
   labels: true, safetySettings: true, generationConfig: true, session_id: true};

# The envelope wants the bare model id, without "models/" (providers.md 1.2,
# pitfall 65).
def _bare: tostring | ltrimstr("models/");

# Encoded Gemini body -> the envelope. `project` is the account's project
# (`$ctx.account.project_id`, one per credential after `expand`): the proxy
# always sets it (providers.md 1.2). Without one it is left out, so that
# Code Assist's own error names what is missing instead of a made-up value.
# The CLI's optional user_prompt_id is not sent (providers.md 1.2).
def request($ctx):
  ($ctx.account.project_id // "") as $project
  | {model: ($ctx.model | _bare)}
    + (if $project != "" then {project: $project} else {} end)
    + {request: with_entries(select(_inner[.key] == true))};

# {response: R, traceId: T} -> R. The CLI copies traceId into responseId when
# R has none (D.8); so does this, so ids the client sees stay the upstream's.
# A body without `response` (an error object, a bare Gemini reply from a
# stand-in server) is kept as it is.
def _unwrap:
  if type == "object" and (.response | type) == "object" then
    .response as $r
    | if $r.responseId == null and (.traceId | type) == "string" then $r + {responseId: .traceId} else $r end
  else . end;

def response($ctx): _unwrap;

# Every SSE event carries the envelope too (providers.md 1.2). Cheap on
# purpose (it runs per event): one type test, then the unwrap; an in-stream
# {"error": …} chunk (D.7) passes as it came.
def event($ctx):
  if (.data | type) == "object" and (.data.response | type) == "object" then setpath(["data"]; .data | _unwrap)
  else . end;

# countTokens: exactly the form the Gemini CLI sends (providers.md 1.2
# "Recommend"; D.8): {"request": {"model": "models/<m>", "contents": […]}},
# no top-level model or project. The Gemini rules encode the
# generateContentRequest form (D.6); only its model and contents are kept:
# Code Assist's count request has no systemInstruction or tools field, so
# those are not counted here (the reply is still the upstream's own count).
def count_request($ctx):
  (.generateContentRequest // .) as $g
  | {request: {model: ("models/" + ($ctx.model | _bare)), contents: ($g.contents // [])}};

# The count reply is {"totalTokens": N}, not wrapped (providers.md 1.2): the
# gemini dialect's own shape, so there is no count_reply hook.

# A Go duration as Google writes delays ("373.801628ms", "17s", "1m30s") ->
# seconds, or null when the text is not one.
def _seconds:
  if type != "string" then null
  else [scan("([0-9]+(?:\\.[0-9]+)?)(h|ms|m|s|us|ns)")] as $p
    | if $p == [] then null
      else [$p[] | (.[0] | tonumber) * {h: 3600, m: 60, s: 1, ms: 0.001, us: 0.000001, ns: 0.000000001}[.[1]]] | add end
  end;

# Code Assist quota errors (providers.md 1.9) do not always carry
# google.rpc.RetryInfo, the only delay the gemini dialect reads (D.7). The
# other two places 1.9 names, in its order, become a RetryInfo detail:
# ErrorInfo.metadata.quotaResetDelay, then "…reset after 17s." in the
# message. A reply that has RetryInfo, or none of these, is left alone.
def error($ctx):
  if (.body | type) == "object" and (.body.error | type) == "object" then
    (.body.error.details | if type == "array" then . else [] end) as $details
    | if any($details[]; type == "object" and ((."@type" // "") | tostring | endswith("google.rpc.RetryInfo"))) then .
      else
        (([$details[] | select(type == "object" and ((."@type" // "") | tostring | endswith("google.rpc.ErrorInfo")))
           | .metadata.quotaResetDelay? | _seconds | numbers] | .[0])
         // (.body.error.message | if type == "string" then [capture("after\\s+(?<n>[0-9]+)s")] | .[0].n // null | if . then tonumber else null end else null end)) as $delay
        | if $delay == null then .
          else setpath(["body", "error", "details"];
                 $details + [{"@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: "\($delay | ceil)s"}])
          end
      end
  else . end;
