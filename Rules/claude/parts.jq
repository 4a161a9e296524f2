# Anthropic Messages: content blocks <-> IR parts, usage, stop reasons and
# signature carriers. Shared by request.jq, response.jq and stream.jq.
# (Wire shapes: section C of the wire-format reference.)

import "lib/ext" as x;
import "lib/json" as json;
import "lib/ids" as ids;
import "lib/dataurl" as du;
import "lib/text" as t;

# ---------------------------------------------------------------- ext

# The fields of an object other than $known, as {ext: {claude: …}} (or {}),
# so that decoding and re-encoding Claude loses nothing (README "Ext").
def ext_rest($known):
  x::rest($known) as $rest
  | if $rest != null then {ext: {claude: $rest}} else {} end;

# The Claude ext of an IR value, {} when none.
def claude_ext: (.ext.claude // {}) | if type == "object" then . else {} end;

# ---------------------------------------------------------------- carriers

# Signature carriers (README "Signature carriers", pitfall 45). A signature
# Claude cannot verify travels to a Claude client inside a `thinking` block
# whose signature is
#     cpx1.<origin>.<base64 of the JSON IR part, without its text>
# The text is left out because it is already the block's `thinking` (a stream
# learns the signature only at the end of the block, after the text went out).
# The part is one of:
#   {type:"reasoning", signature, redacted?}  foreign reasoning (text = thinking)
#   {type:"tool_call", id, signature}         Gemini signature of that call
#   {type:"text", signature}                  Gemini signature of the text before
# The encoder puts a call's or a text's carrier right AFTER its part (a
# stream only knows the signature once the part is out); the decoder puts the
# reasoning part it becomes right BEFORE that part, where the README wants it.
# The payload is built field by field so that a stream and a whole response
# carrying the same part produce byte-identical carriers.
def carrier($part):
  ($part.signature | {origin, value}) as $sig
  | ({type: $part.type}
     + (if $part.type == "tool_call" then {id: $part.id} else {} end)
     + (if $part.redacted == true then {redacted: true} else {} end)
     + {signature: $sig}) as $payload
  | "cpx1.\($sig.origin).\($payload | tojson | @base64)";

def is_carrier: type == "string" and startswith("cpx1.");

# A carrier's signature -> the IR part it stands for, given the block's
# thinking text; null when it does not parse (then it is treated as an
# ordinary Claude signature). `_for` is a placement note for place_carriers.
def uncarry($thinking):
  .[5:] as $rest
  | ($rest | index(".")) as $dot
  | if $dot == null then null
    else ([$rest[$dot + 1:] | try (@base64d | fromjson) catch null] | .[0]) as $p
      | if ($p | type) != "object" or ($p.signature | type) != "object" or ($p.signature.value | type) != "string"
           or ($p.signature.origin | IN("claude", "gemini", "responses") | not) then null
        elif $p.type == "reasoning" then
          {type: "reasoning", text: ($thinking // ""), signature: ($p.signature | {origin, value})}
          + (if $p.redacted == true then {redacted: true} else {} end)
        elif $p.type == "tool_call" then {type: "reasoning", text: "", signature: ($p.signature | {origin, value}), _for: {call: $p.id}}
        elif $p.type == "text" then {type: "reasoning", text: "", signature: ($p.signature | {origin, value}), _for: {text: true}}
        else null end
    end;

# Move the reasoning parts decoded from call/text carriers right before the
# part they belong to: the tool_call with that id, or the text just before the
# carrier (README: "a reasoning part ... whose next part is a tool_call or
# text ... may hand the signature to that part").
def place_carriers:
  if any(.[]; ._for != null) | not then .
  else reduce .[] as $p ([];
      if $p._for == null then . + [$p]
      else ($p | del(._for)) as $r
        | if $p._for.call != null then
            (map(.type == "tool_call" and .id == $p._for.call) | index(true)) as $j
            | if $j == null then . + [$r] else .[:$j] + [$r] + .[$j:] end
          elif length > 0 and .[-1].type == "text" then .[:-1] + [$r, .[-1]]
          else . + [$r] end
      end)
  end;

# ---------------------------------------------------------------- decode

def _str(path; $f):
  if ($f | type) != "string" then error("\(path): must be a string") else . end;

# image/document `source` -> the media fields of an IR image/file part, or
# null when the source kind has no IR equivalent.
def _source(path):
  .source as $s
  | if ($s | type) != "object" then error("\(path).source: field required")
    elif $s.type == "base64" then {media_type: $s.media_type, data: $s.data} | with_entries(select(.value != null))
    elif $s.type == "url" then {url: $s.url}
    elif $s.type == "file" then {file_id: $s.file_id}
    # a plain-text document: the IR file part carries base64 data (pitfall 34)
    elif $s.type == "text" and ($s.data | type) == "string" then {media_type: ($s.media_type // "text/plain"), data: ($s.data | @base64)}
    else null end;

# Claude-only blocks of a user turn or a tool result (search_result, a
# document with a `content` source, unknown types) have no IR user part and
# opaque parts are assistant-only: what they say is kept as text.
def user_safe:
  if .type == "text" or .type == "image" or .type == "file" then .
  elif .type == "opaque" then
    .value as $v
    | ([$v | .. | objects | select(.type == "text") | .text | strings] | join("\n")) as $t
    | if $t == "" then empty
      else {type: "text", text: ([($v.title | strings), ($v.source | strings), $t] | join("\n"))} end
  else empty end;

def _text_block(path):
  _str("\(path).text"; .text) | {type: "text", text: .text} + ext_rest(["type", "text"]);

# One Claude content block -> one IR part. Blocks with no IR equivalent
# (server-tool blocks, search results, document `content` sources, anything
# unknown) become opaque parts: replayed to Claude, dropped elsewhere
# (pitfall 25, C.2 "replayed verbatim or dropped").
def block_part(path):
  if type != "object" then error("\(path): must be an object")
  elif .type == "text" then _text_block(path)
  elif .type == "image" then
    _source(path) as $m
    | if $m == null then {type: "opaque", dialect: "claude", value: .}
      # IR images have no file_id: a Files-API image becomes a file part
      # that remembers its block type (file ids are provider-bound, pitfall 34)
      elif $m.file_id != null then {type: "file", file_id: $m.file_id, ext: {claude: ({type: "image"} + del(.type, .source))}}
      else {type: "image"} + $m + ext_rest(["type", "source"]) end
  elif .type == "document" then
    _source(path) as $m
    | if $m == null then {type: "opaque", dialect: "claude", value: .}
      else {type: "file"} + $m + ext_rest(["type", "source"]) end
  elif .type == "tool_use" then
    _str("\(path).id"; .id) | _str("\(path).name"; .name)
    # pitfall 16: the IR keeps arguments as JSON text
    | {type: "tool_call", id: .id, name: .name, arguments: (.input | json::args_text), kind: "function"}
      + ext_rest(["type", "id", "name", "input"])
  elif .type == "tool_result" then
    _str("\(path).tool_use_id"; .tool_use_id)
    | {type: "tool_result", id: .tool_use_id,
       content: (if .content == null then []
                 elif (.content | type) == "string" then [{type: "text", text: .content}]
                 elif (.content | type) == "array" then [.content | range(length) as $k | .[$k] | block_part("\(path).content[\($k)]") | user_safe]
                 else error("\(path).content: must be a string or an array of blocks") end)}
      + (if .is_error == true then {is_error: true} else {} end)
      + ext_rest(["type", "tool_use_id", "content", "is_error"])
  elif .type == "thinking" then
    .thinking as $t
    | (if (.signature | is_carrier) then (.signature | uncarry($t)) else null end) as $c
    | if $c != null then $c
      else {type: "reasoning", text: (.thinking // "")}
        # pitfall 44: a Claude signature, replayed only to Claude
        + (if (.signature | type) == "string" and .signature != "" then {signature: {origin: "claude", value: .signature}} else {} end)
      end
  elif .type == "redacted_thinking" then
    # pitfall 50: no text, the encrypted data is the signature
    {type: "reasoning", text: "", redacted: true, signature: {origin: "claude", value: .data}}
  elif (.type | type) != "string" then error("\(path).type: field required")
  else {type: "opaque", dialect: "claude", value: .} end;

# A message's content (string or blocks) -> IR parts.
def content_parts(path):
  if type == "string" then [{type: "text", text: .}]
  elif type == "array" then [range(length) as $k | .[$k] | block_part("\(path)[\($k)]")]
  elif . == null then error("\(path): field required")
  else error("\(path): must be a string or an array of content blocks") end;

# ---------------------------------------------------------------- encode

def _nonblank: type == "string" and t::nonblank;

# Image media type when the IR has none: sniff the base64 magic bytes, else
# PNG (ambiguous: Anthropic requires one of jpeg/png/gif/webp, pitfall 32).
def _sniff_media_type:
  if startswith("/9j/") then "image/jpeg"
  elif startswith("R0lGOD") then "image/gif"
  elif startswith("UklGR") then "image/webp"
  else "image/png" end;

def _image_block($media_type; $data): {type: "image", source: {type: "base64", media_type: ($media_type // ($data | _sniff_media_type)), data: $data}};

# IR image/file part -> one block (none when it has neither data, url nor id).
def media_block:
  claude_ext as $x
  | ($x | del(.type)) as $extra
  | .filename as $fn
  | if .type == "image" then
      (if .data then _image_block(.media_type; .data)
       elif (.url | type) == "string" then
         # pitfall 31: a data URL is base64, not a URL Anthropic can fetch
         (.url | du::parse_data_url) as $d
         | if $d then _image_block($d.media_type; $d.data) else {type: "image", source: {type: "url", url: .url}} end
       else null end)
    else # file (pitfall 34)
      (if .file_id then {type: ($x.type // "document"), source: {type: "file", file_id: .file_id}}
       elif .data then
         (.media_type // "application/pdf") as $mt
         | if ($mt | startswith("image/")) then _image_block($mt; .data)
           elif ($mt | startswith("text/plain")) and ([.data | try @base64d catch null] | .[0]) != null then
             {type: "document", source: {type: "text", media_type: "text/plain", data: (.data | @base64d)}}
           else {type: "document", source: {type: "base64", media_type: $mt, data: .data}} end
       elif (.url | type) == "string" then
         (.url | du::parse_data_url) as $d
         | if $d then {type: "document", source: {type: "base64", media_type: $d.media_type, data: $d.data}}
           else {type: "document", source: {type: "url", url: .url}} end
       else null end)
      # a filename is the closest thing a document block has to a title
      | if . != null and .type == "document" and $x.title == null and ($fn | type) == "string" then setpath(["title"]; $fn) else . end
    end
  | if . == null then empty else . + $extra end;

# IR text part -> text block; empty and whitespace-only text is dropped
# (pitfall 7: "text content blocks must contain non-whitespace text").
def text_block:
  if (.text | _nonblank) then {type: "text", text: .text} + claude_ext else empty end;

# IR tool_call -> tool_use. Ids through lib/ids safe_id (pitfall 11: the
# same function maps the later tool_result id, no state needed); arguments
# text -> input object (pitfall 16).
def tool_use_block:
  {type: "tool_use", id: (.id | ids::safe_id), name: .name, input: (.arguments | json::args_object)} + claude_ext;

# IR reasoning -> thinking / redacted_thinking, only with a Claude signature
# (pitfall 44: a foreign or missing signature cannot be verified).
def thinking_block:
  if .signature.origin != "claude" or (.signature.value | type) != "string" then empty
  elif .redacted == true then {type: "redacted_thinking", data: .signature.value}
  else {type: "thinking", thinking: (.text // ""), signature: .signature.value} end;

# ---------------------------------------------------------------- usage, stop

# Claude usage -> IR usage (table E.4: Claude's input_tokens is the uncached
# rest; all input = input + cache_creation + cache_read).
def usage_ir:
  (.input_tokens // 0) as $in | (.cache_creation_input_tokens // 0) as $cw
  | (.cache_read_input_tokens // 0) as $cr | (.output_tokens // 0) as $out
  | {input: ($in + $cw + $cr), output: $out}
  + (if .cache_read_input_tokens != null then {cached: $cr} else {} end)
  + (if .cache_creation_input_tokens != null then {cache_write: $cw} else {} end)
  + (if .output_tokens_details.thinking_tokens != null then {reasoning: .output_tokens_details.thinking_tokens} else {} end)
  + {total: ($in + $cw + $cr + $out)};

# IR usage -> Claude usage (E.4 O -> C: input_tokens = all - cached - written).
def usage_wire:
  (.cached // 0) as $cr | (.cache_write // 0) as $cw
  | {input_tokens: ([(.input // 0) - $cr - $cw, 0] | max),
     cache_creation_input_tokens: $cw, cache_read_input_tokens: $cr,
     output_tokens: (.output // 0)};

# stop_reason -> IR stop (table E.3; refusal is the content filter, pitfall 60).
def stop_ir($reason; $sequence):
  if $reason == null then null
  else {reason: ({end_turn: "end_turn", max_tokens: "max_tokens", stop_sequence: "stop_sequence",
                  tool_use: "tool_use", pause_turn: "pause_turn", refusal: "content_filter",
                  model_context_window_exceeded: "context_window"}[$reason | tostring] // "other")}
    + (if ($sequence | type) == "string" then {sequence: $sequence} else {} end)
    + {raw: ($reason | tostring)}
  end;

# IR stop reason -> stop_reason ("other" has no Claude word: end_turn).
def stop_wire:
  {end_turn: "end_turn", max_tokens: "max_tokens", stop_sequence: "stop_sequence", tool_use: "tool_use",
   pause_turn: "pause_turn", content_filter: "refusal", context_window: "model_context_window_exceeded"}[. // "end_turn"]
  // "end_turn";
