# Gemini `Part` <-> IR Part (wire-formats.md D.1). Tool calls and tool results
# need ids and names from their neighbours, so request.jq and response.jq pass
# those in; everything else is decided by the part alone.
import "lib/ext" as x;
import "lib/json" as json;
import "lib/dataurl" as du;
import "gemini/common" as c;

# Wire fields of a part that the IR has no slot for (videoMetadata,
# mediaResolution, partMetadata, ...), kept in the part's ext for re-encoding.
def _extras: x::rest(["text", "thought", "thoughtSignature", "inlineData", "fileData", "functionCall", "functionResponse"]) // {};
def _with_extras($p): ($p | _extras) as $x | if $x == {} then . else setpath(["ext"]; {gemini: $x}) end;
def _with_sig($p): if $p.thoughtSignature != null then setpath(["signature"]; c::sig($p.thoughtSignature)) else . end;

# "audio/wav" -> "wav" (the IR keeps Chat's format words; pitfall 35).
def _audio_format: ltrimstr("audio/") | if . == "mpeg" then "mp3" elif . == "x-wav" or . == "wave" then "wav" else . end;

# inlineData / fileData -> image, audio or file by mimeType.
def media_part($path):
  if .inlineData != null then
    .inlineData as $d
    | if ($d.data | type) != "string" then error("\($path).inlineData.data: field required") else . end
    | ($d.mimeType // "application/octet-stream") as $mt
    | if ($mt | startswith("image/")) then {type: "image", media_type: $mt, data: $d.data}
      elif ($mt | startswith("audio/")) then {type: "audio", format: ($mt | _audio_format), data: $d.data}
      else {type: "file", media_type: $mt, data: $d.data} end
  else
    .fileData as $f
    | if ($f.fileUri | type) != "string" then error("\($path).fileData.fileUri: field required") else . end
    | if (($f.mimeType // "") | startswith("image/")) then {type: "image", media_type: $f.mimeType, url: $f.fileUri}
      else {type: "file"} + (if $f.mimeType then {media_type: $f.mimeType} else {} end) + {url: $f.fileUri} end
  end;

# A part of a `user` content other than functionResponse -> IR part, or
# nothing for an empty text part (pitfall 7).
def decode_user_part($path):
  . as $p
  | if (type != "object") then error("\($path): must be an object")
    elif .text != null then
      if (.text | type) != "string" then error("\($path).text: must be a string")
      elif .text == "" and .thoughtSignature == null then empty
      else {type: "text", text: .text} | _with_sig($p) | _with_extras($p) end
    elif .inlineData != null or .fileData != null then media_part($path) | _with_sig($p) | _with_extras($p)
    # The IR has no slot in a user message for anything else (executableCode,
    # codeExecutionResult, toolResponse of built-in tools): such parts are
    # dropped (known gap; Gemini sends them in model turns, where they are kept
    # as opaque).
    else empty end;

# A part of a `model` content -> IR part. `$id` is the id to use when a
# functionCall has none (Gemini 2.5 never sends one, pitfall 11).
# Thought parts become reasoning with ext.gemini.thought, which marks them as
# Gemini's own summaries (the encoder replays only those, see encode_model_parts).
# Anything the IR has no part for (executableCode, codeExecutionResult,
# toolCall/toolResponse of built-in tools, generated images) is opaque: replayed
# to Gemini verbatim, dropped by the other dialects (pitfall 25).
def decode_model_part($path; $id):
  . as $p
  | if (type != "object") then error("\($path): must be an object")
    elif .functionCall != null then
      .functionCall as $fc
      | if ($fc.name | type) != "string" then error("\($path).functionCall.name: field required") else . end
      | {type: "tool_call", id: ($fc.id // $id), name: $fc.name,
         arguments: ($fc.args | json::args_text), kind: "function"}
      | _with_sig($p) | _with_extras($p)
    elif .text != null then
      if (.text | type) != "string" then error("\($path).text: must be a string")
      elif .thought == true then {type: "reasoning", text: .text} | _with_sig($p) | setpath(["ext"]; {gemini: ({thought: true} + ($p | _extras))})
      elif .text == "" and .thoughtSignature == null then empty
      else {type: "text", text: .text} | _with_sig($p) | _with_extras($p) end
    else {type: "opaque", dialect: "gemini", value: $p} end;

# --- encode ------------------------------------------------------------------

def _ext_fields: .ext.gemini // {} | del(.thought);

# IR image / file / audio -> inlineData or fileData.
def encode_media($path):
  if .type == "audio" then
    {inlineData: {mimeType: "audio/\(.format // "wav")", data: .data}}
  elif .data != null then
    {inlineData: {mimeType: (.media_type // (if .type == "image" then "image/jpeg" else "application/pdf" end)), data: .data}}
  elif .url != null then
    (.url | du::parse_data_url) as $d
    | if $d != null then {inlineData: {mimeType: (.media_type // $d.media_type), data: $d.data}}
      # pitfall 31 (ambiguous): the Developer API does not fetch arbitrary web
      # URLs and a rule cannot download; fileData is the only way to pass the
      # reference on (Files API and YouTube URIs do work; Vertex takes more).
      else {fileData: {mimeType: (.media_type // (.url | du::media_type_from_url)), fileUri: .url}} end
  elif .file_id != null then
    # pitfall 34: file ids belong to the provider that issued them.
    error("\($path).file_id: file references cannot be sent to Gemini; send the file data instead")
  else error("\($path): \(.type) part without data or url") end;

# An IR user-side part (text, image, file, audio, opaque) -> wire part, or nothing.
def encode_user_part($path):
  if .type == "text" then
    (c::own_sig) as $s
    | if (.text // "") == "" and $s == null then empty
      else {text: .text} + _ext_fields + c::sig_field($s) end
  elif .type == "image" or .type == "file" or .type == "audio" then encode_media($path) + _ext_fields
  elif .type == "opaque" then (if .dialect == "gemini" then .value else empty end)
  elif .type == "refusal" then (if (.text // "") == "" then empty else {text: .text} end)
  elif .type == "reasoning" then empty
  else empty end;

# The `response` object of a functionResponse for an IR tool result (pitfall
# 14/15): errors as {"error": text}; text that is itself a JSON object is passed
# as that object (Gemini treats other keys as the whole result); any other text
# as {"output": text}.
def response_object:
  ([.content[]? | select(.type == "text") | .text] | join("\n")) as $text
  | if .is_error == true then {error: $text}
    elif ($text | startswith("{")) then
      ($text | try fromjson catch null) as $v
      | if ($v | type) == "object" then $v else {output: $text} end
    else {output: $text} end;
