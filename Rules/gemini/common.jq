# Pieces shared by the gemini dialect's modules (wire-formats.md section D):
# signatures, finish reasons, usage, the Google error object and the
# OpenAPI-subset `Schema` <-> JSON Schema conversions.

import "lib/text" as t;

# --- signatures --------------------------------------------------------------

# A `thoughtSignature` as an IR Signature (pitfall 44: only Gemini can verify it).
def sig($v): {origin: "gemini", value: $v};

# The value of the IR part's signature when Gemini issued it, else null
# (foreign signatures are never forwarded, pitfall 44).
def own_sig: if .signature.origin == "gemini" then .signature.value else null end;

# `{thoughtSignature}` for a wire part, or nothing.
def sig_field($v): if $v == null then {} else {thoughtSignature: $v} end;

# Foreign signatures for Gemini clients (README "Signature carriers", pitfall
# 45). A Claude thinking signature or a Responses encrypted_content must reach
# a Gemini client and come back unchanged, and the only slot Gemini clients
# echo is `thoughtSignature`. That slot is bytes in the SDKs (base64 on the
# wire), so the README's `cpx1.<origin>.<base64>` text would not survive a
# google-genai client: the Gemini form of a carrier is the base64 of
# {"cpx1": [IR reasoning parts]} (text, signature, redacted), which starts
# with "eyJjcHgxIjpb" and never collides with Gemini's own protobuf tokens.
def carried_part: {type: "reasoning", text: (.text // ""), signature: (.signature | {origin, value})} + (if .redacted == true then {redacted: true} else {} end);
def carrier($parts): {cpx1: $parts} | tojson | @base64;
# thoughtSignature -> the IR reasoning parts it carries, or null.
def uncarry:
  if type == "string" and startswith("eyJjcHgxIjpb") then
    ([try (@base64d | fromjson | .cpx1) catch null] | .[0])
    | if type == "array" and all(.[]; type == "object" and .type == "reasoning" and (.signature.value | type) == "string") then . else null end
  else null end;

# The documented value that switches Gemini 3's signature check off for calls
# that did not come from Gemini (pitfall 47).
def skip_signature: "skip_thought_signature_validator";

# --- finish reasons (E.3) ----------------------------------------------------

def _filter_reasons:
  {SAFETY: true, RECITATION: true, BLOCKLIST: true, PROHIBITED_CONTENT: true, SPII: true,
   IMAGE_SAFETY: true, IMAGE_PROHIBITED_CONTENT: true, IMAGE_RECITATION: true,
   ESCALATION: true, PUP_LIMITED_DISABLED: true, MODEL_ARMOR: true};

def _finish_reasons:
  _filter_reasons + {STOP: true, MAX_TOKENS: true, LANGUAGE: true, OTHER: true,
   MALFORMED_FUNCTION_CALL: true, UNEXPECTED_TOOL_CALL: true, TOO_MANY_TOOL_CALLS: true,
   NO_IMAGE: true, IMAGE_OTHER: true, FINISH_REASON_UNSPECIFIED: true,
   MISSING_THOUGHT_SIGNATURE: true, MALFORMED_RESPONSE: true, CONTINUATION: true};

def _block_reasons:
  {SAFETY: true, OTHER: true, BLOCKLIST: true, PROHIBITED_CONTENT: true, IMAGE_SAFETY: true,
   MODEL_ARMOR: true, JAILBREAK: true};

# finishReason (or promptFeedback.blockReason) -> IR Stop.
# Gemini never says "tool": a candidate with any functionCall part stopped for
# tool use (pitfall 57, E.3). MAX_TOKENS and its resumable variant CONTINUATION
# are the output cap. The filter family is content_filter. Everything else
# (OTHER, LANGUAGE, MALFORMED_FUNCTION_CALL, UNEXPECTED_TOOL_CALL,
# TOO_MANY_TOOL_CALLS, MALFORMED_RESPONSE, unspecified, unknown words) is
# "other" with the raw word kept (ambiguous: E.3 suggests end_turn for Claude
# and stop for Chat; "other" lets each encoder decide and loses nothing).
# MISSING_THOUGHT_SIGNATURE is a request problem but arrives as a finish
# reason of a 200 answer; it is kept as "other" too (ambiguous, E.3).
def stop_of($raw; $calls):
  (if $calls then "tool_use"
   elif $raw == null or $raw == "STOP" then "end_turn"
   elif $raw == "MAX_TOKENS" or $raw == "CONTINUATION" then "max_tokens"
   elif _filter_reasons[$raw | tostring] then "content_filter"
   else "other" end) as $reason
  | {reason: $reason} + (if $raw != null then {raw: $raw} else {} end);

# A prompt blocked before any output (no candidates, pitfall 60).
def blocked_stop($raw): {reason: "content_filter", raw: $raw};

# IR Stop -> finishReason (E.3 "-> Gemini"). A raw Gemini word survives when it
# belongs to the same family.
def finish_reason:
  (.raw // "" | tostring) as $raw
  | if .reason == "max_tokens" or .reason == "context_window" then "MAX_TOKENS"
    elif .reason == "content_filter" then (if _filter_reasons[$raw] then $raw else "SAFETY" end)
    elif .reason == "other" then (if _finish_reasons[$raw] then $raw else "OTHER" end)
    else "STOP" end;

# IR Stop of a blocked prompt -> promptFeedback.blockReason.
def block_reason: (.raw // "" | tostring) as $raw | if _block_reasons[$raw] then $raw else "SAFETY" end;

# --- usage (E.4, G formulas) -------------------------------------------------

# usageMetadata -> IR Usage. promptTokenCount already includes cached tokens;
# tool-use prompt tokens are input too; output = candidates + thoughts
# (candidatesTokenCount excludes thoughts).
def usage_of:
  {input: ((.promptTokenCount // 0) + (.toolUsePromptTokenCount // 0)),
   output: ((.candidatesTokenCount // 0) + (.thoughtsTokenCount // 0))}
  + (if .cachedContentTokenCount != null then {cached: .cachedContentTokenCount} else {} end)
  + (if .thoughtsTokenCount != null then {reasoning: .thoughtsTokenCount} else {} end)
  + (if .totalTokenCount != null then {total: .totalTokenCount} else {} end);

# IR Usage -> usageMetadata (O/C -> G formulas). Gemini leaves out the counts
# it has nothing for, so zero thoughts / zero cached are left out as well.
def usage_metadata:
  (.input // 0) as $in | (.output // 0) as $out | (.reasoning // 0) as $r
  | {promptTokenCount: $in,
     candidatesTokenCount: ([$out - $r, 0] | max),
     totalTokenCount: (.total // ($in + $out))}
    + (if $r > 0 then {thoughtsTokenCount: $r} else {} end)
    + (if (.cached // 0) > 0 then {cachedContentTokenCount: .cached} else {} end);

# --- errors (D.7, E.6) -------------------------------------------------------

def _retry_seconds:
  if type == "string" and endswith("s") then (rtrimstr("s") | tonumber? // null)
  elif type == "number" then .
  else null end
  | if . == null then null else ceil end;

def _type_for_http:
  if . == 400 then "invalid_request" elif . == 401 then "authentication"
  elif . == 403 then "permission" elif . == 404 then "not_found"
  elif . == 413 then "too_large" elif . == 429 then "rate_limit"
  elif . == 503 or . == 529 then "overloaded" elif . == 504 then "timeout"
  elif . != null and . >= 400 and . < 500 then "invalid_request"
  else "server" end;

# A Google error object (`{"error": {...}}` body, also an in-stream chunk) and
# the HTTP status -> IR error. The google.rpc.ErrorInfo reason is kept as `code`
# (Gemini CLI keys on it: RATE_LIMIT_EXCEEDED is retryable, QUOTA_EXHAUSTED is
# terminal), RetryInfo.retryDelay "37s" -> retry_after 37 (pitfall 63).
def ir_error($http):
  (if type == "object" and (.error | type) == "object" then .error else null end) as $e
  | if $e == null then
      ($http | if type == "number" and . >= 400 and . <= 599 then . else 502 end) as $status
      | {status: $status, type: ($status | _type_for_http),
       message: (if type == "string" and . != "" then .[0:2000] else "upstream error (HTTP \($http // "unknown"))" end)}
    else
      ($http // $e.code // 500 | if type == "number" and . >= 400 and . <= 599 then . else 502 end) as $status
      | ([$e.details[]? | select(type == "object")]) as $details
      | ([$details[] | select((."@type" // "") | endswith("google.rpc.ErrorInfo")) | .reason | strings] | .[0]) as $reason
      | ([$details[] | select((."@type" // "") | endswith("google.rpc.RetryInfo")) | .retryDelay] | .[0] | _retry_seconds) as $retry
      | ($e.message // "") as $msg
      | ($e.status // "") as $grpc
      | (if $grpc == "INVALID_ARGUMENT" then
           (if $reason == "API_KEY_INVALID" then "authentication"
            elif ($msg | type == "string" and test("exceeds the maximum number of tokens|context window|too long"; "i")) then "context_length"
            else "invalid_request" end)
         elif $grpc == "FAILED_PRECONDITION" then "permission"
         elif $grpc == "UNAUTHENTICATED" then "authentication"
         elif $grpc == "PERMISSION_DENIED" then "permission"
         elif $grpc == "NOT_FOUND" then "not_found"
         elif $grpc == "RESOURCE_EXHAUSTED" then
           (if $reason == "QUOTA_EXHAUSTED" or $reason == "INSUFFICIENT_G1_CREDITS_BALANCE" then "quota" else "rate_limit" end)
         elif $grpc == "UNAVAILABLE" then "overloaded"
         elif $grpc == "DEADLINE_EXCEEDED" then "timeout"
         elif $grpc == "INTERNAL" or $grpc == "UNKNOWN" then "server"
         else ($status | _type_for_http) end) as $type
      | {status: $status, type: $type, message: (if $msg == "" then "upstream error \($status)" else $msg end)}
        + (if $reason != null then {code: $reason} else {} end)
        + (if $retry != null then {retry_after: $retry} else {} end)
    end;

# IR error type -> [HTTP status, google.rpc status] (E.6). The type decides, not
# the IR status: an Anthropic 529 is a Gemini 503 (pitfall 63).
def _google_status:
  {invalid_request: [400, "INVALID_ARGUMENT"], authentication: [401, "UNAUTHENTICATED"],
   permission: [403, "PERMISSION_DENIED"], not_found: [404, "NOT_FOUND"],
   too_large: [400, "INVALID_ARGUMENT"], context_length: [400, "INVALID_ARGUMENT"],
   rate_limit: [429, "RESOURCE_EXHAUSTED"], quota: [429, "RESOURCE_EXHAUSTED"],
   overloaded: [503, "UNAVAILABLE"], timeout: [504, "DEADLINE_EXCEEDED"],
   server: [500, "INTERNAL"]};

def _grpc_for_http:
  if . == 400 then "INVALID_ARGUMENT" elif . == 401 then "UNAUTHENTICATED"
  elif . == 403 then "PERMISSION_DENIED" elif . == 404 then "NOT_FOUND"
  elif . == 429 then "RESOURCE_EXHAUSTED" elif . == 503 then "UNAVAILABLE"
  elif . == 504 then "DEADLINE_EXCEEDED" elif . == 499 then "CANCELLED"
  elif . != null and . < 500 then "INVALID_ARGUMENT" else "INTERNAL" end;

# IR error -> the Google error object `{"error": {code, message, status, details}}`.
# details carry google.rpc.ErrorInfo (reason: the IR code when it is a Google
# reason word, else one derived from the type) and google.rpc.RetryInfo.
def google_error:
  # E.6: a bad API key is 400 INVALID_ARGUMENT on the Developer API
  # A request error keeps its own 4xx (405, 413, 415, …) and a server error
  # its own 5xx (502, 504, …), with the gRPC word for that status.
  (if .type == "authentication" and .code == "API_KEY_INVALID" then [400, "INVALID_ARGUMENT"]
   elif .type == "invalid_request" and (.status // 0) >= 400 and .status < 500 and .status != 429 then [.status, (.status | _grpc_for_http)]
   elif .type == "server" and (.status // 0) >= 500 and .status < 600 then [.status, (.status | _grpc_for_http)]
   else _google_status[.type // ""] // [(.status // 500), ((.status // 500) | _grpc_for_http)] end) as $s
  | ((.code // null) | if type == "string" and . != "" and length <= 256 and . == ascii_upcase and (index(" ") == null) then . else null end) as $own
  | ($own // (if .type == "rate_limit" then "RATE_LIMIT_EXCEEDED" elif .type == "quota" then "QUOTA_EXHAUSTED" else null end)) as $reason
  | {error: {code: $s[0], message: (.message // ""), status: $s[1],
      details: ((if $reason != null then [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", reason: $reason, domain: "googleapis.com"}] else [] end)
        + (if .retry_after != null then [{"@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: "\(.retry_after | ceil)s"}] else [] end))}};

# --- schemas (D.2, pitfall 26) -----------------------------------------------

# Gemini `Schema` (OpenAPI 3.0 subset, upper-case types, `nullable`) -> JSON
# Schema for the IR, so that other dialects receive a schema they understand.
def schema_to_json:
  if type == "object" then
    with_entries(
      if .key == "properties" and (.value | type) == "object" then setpath(["value"]; .value | with_entries(.value |= schema_to_json))
      elif (.key == "items" or .key == "not") then setpath(["value"]; .value | schema_to_json)
      elif (.key == "anyOf" or .key == "oneOf" or .key == "allOf") and (.value | type) == "array" then setpath(["value"]; .value | map(schema_to_json))
      elif .key == "type" and (.value | type) == "string" then setpath(["value"]; .value | t::lower_name)
      else . end)
    | if .nullable == true and (.type | type) == "string" then setpath(["type"]; [.type, "null"]) | del(.nullable)
      elif .nullable == false then del(.nullable)
      else . end
  else . end;

# JSON Schema -> Gemini `Schema`: the fallback sanitizer of pitfall 26, used
# only for declarations that came in as `parameters` (same-dialect ext); every
# other schema goes out as `parametersJsonSchema`. Drops what `Schema` rejects,
# converts const/oneOf/type arrays/non-string enums, upper-cases types.
# $ref/$defs are not inlined (a `parameters` schema never had them).
def _schema_drop:
  {"$schema": true, "$id": true, "$comment": true, "$defs": true, definitions: true, examples: true,
   additionalProperties: true, patternProperties: true, unevaluatedProperties: true,
   dependentRequired: true, "if": true, "then": true, "else": true, "not": true, allOf: true,
   exclusiveMinimum: true, exclusiveMaximum: true, multipleOf: true, uniqueItems: true,
   contains: true, readOnly: true, writeOnly: true, deprecated: true, const: true, strict: true};

def schema_to_gemini:
  if type == "object" then
    (if has("const") and (has("enum") | not) then setpath(["enum"]; [.const]) else . end)
    | (if has("oneOf") and (has("anyOf") | not) then setpath(["anyOf"]; .oneOf) | del(.oneOf) else . end)
    # type: [T, "null"] -> type T + nullable; several types -> anyOf
    | (if (.type | type) == "array" then
         ([.type[] | select(. != "null")]) as $t
         | (any(.type[]; . == "null")) as $null
         | (if ($t | length) == 1 then setpath(["type"]; $t[0])
            elif ($t | length) == 0 then setpath(["type"]; "null")
            else del(.type) | setpath(["anyOf"]; ($t | map({type: .}))) end)
         | (if $null and ($t | length) > 0 then setpath(["nullable"]; true) else . end)
       else . end)
    | with_entries(select(_schema_drop[.key] | not))
    | with_entries(
        if .key == "properties" and (.value | type) == "object" then setpath(["value"]; .value | with_entries(.value |= schema_to_gemini))
        elif .key == "items" then setpath(["value"]; .value | schema_to_gemini)
        elif .key == "anyOf" and (.value | type) == "array" then setpath(["value"]; .value | map(schema_to_gemini))
        elif .key == "enum" and (.value | type) == "array" then setpath(["value"]; .value | map(if type == "string" then . else tojson end))
        else . end)
    | if (.type | type) == "string" then setpath(["type"]; .type | t::upper_name) else . end
  else . end;

# `$schema` is not accepted anywhere on the Gemini side (D.2: strip it to be safe).
def strip_schema_uri: if type == "object" then del(."$schema") else . end;
