# GenerateContentResponse (wire-formats.md D.4) <-> IR response.
import "lib/ids" as ids;
import "lib/json" as json;
import "gemini/common" as c;
import "gemini/parts" as parts;

# The id of the n-th call of a response when Gemini (2.5) gave none:
# call_<responseId>_<n> (pitfall 11), unique across turns because responseId
# is; $ctx.id_seed when there is no responseId. Shared with stream.jq so that
# a streamed and a non-streamed answer name their calls alike.
# responseId is base64url ([A-Za-z0-9_-], 23 characters in practice), so the id
# already fits every dialect's pattern; the cut keeps it within Chat's 40
# characters without a regex on the stream path.
def call_id($ctx; $response_id; $n):
  if ($response_id | type) == "string" and $response_id != "" then "call_\($response_id[:28])_\($n)"
  else ids::invented_call_id($ctx; $n) end;

# pitfall 48: an empty text part that only carries a signature (Gemini 3's
# closing part) is folded into the text part right before it when that one has
# no signature of its own; otherwise it stays a text part with "" (choice).
def _fold_signature_parts:
  reduce .[] as $p ([];
    if $p.type == "text" and $p.text == "" and $p.signature != null
       and length > 0 and .[-1].type == "text" and .[-1].signature == null
    then .[-1].signature = $p.signature
    else . + [$p] end);

def decode($ctx):
  if type != "object" then error("body: must be a JSON object") else . end
  | .responseId as $rid
  | (.candidates[0]? // null) as $cand
  | ([$cand.content.parts[]? | select(type == "object")]) as $wire
  | (reduce range(0; $wire | length) as $j ({parts: [], n: 0};
       $wire[$j] as $p
       | if $p.functionCall != null then
           call_id($ctx; $rid; .n) as $id
           | setpath(["parts"]; .parts + ([$p | parts::decode_model_part("candidates[0].content.parts[\($j)]"; $id)])) | setpath(["n"]; .n + (1))
         else setpath(["parts"]; .parts + ([$p | parts::decode_model_part("candidates[0].content.parts[\($j)]"; null)])) end)
     | .parts | _fold_signature_parts
     # the thought marker only matters for replaying request history; a
     # streamed answer cannot carry it, so the response leaves it out too
     | map(if .type == "reasoning" then del(.ext.gemini.thought) | (if .ext.gemini == {} then del(.ext) else . end) else . end)) as $parts
  | (any($parts[]; .type == "tool_call")) as $calls
  | (if $cand == null and .promptFeedback.blockReason != null then c::blocked_stop(.promptFeedback.blockReason)
     elif $cand == null then {reason: "other"}
     else c::stop_of($cand.finishReason; $calls) end) as $stop
  | ({finishMessage: $cand.finishMessage, promptFeedback, groundingMetadata: $cand.groundingMetadata,
      citationMetadata: $cand.citationMetadata} | with_entries(select(.value != null))) as $x
  | {id: ($rid // $ctx.request_id)}
    + {model: (.modelVersion // $ctx.model // "")}
    + {parts: $parts, stop: $stop, usage: ((.usageMetadata // {}) | c::usage_of)}
    + (if $x != {} then {ext: {gemini: $x}} else {} end);

# IR parts -> the candidate's wire parts. Reasoning is a thought part; Gemini
# signatures stay on their part (pitfall 48); foreign ones are dropped
# (pitfall 44).
def encode_part:
  (c::own_sig) as $s
  | if .type == "reasoning" then
      if .redacted == true or (.text // "") == "" and $s == null then empty
      else {text: (.text // ""), thought: true} + c::sig_field($s) end
    elif .type == "text" then
      if (.text // "") == "" and $s == null then empty else {text: (.text // "")} + c::sig_field($s) end
    elif .type == "tool_call" then
      {functionCall: ((if .id != null then {id} else {} end) + {name, args: (.arguments | json::args_object)})} + c::sig_field($s)
    elif .type == "refusal" then
      if (.text // "") == "" then empty else {text} end
    elif .type == "opaque" then (if .dialect == "gemini" then .value else empty end)
    else empty end;

# Foreign reasoning signatures ride to the Gemini client in a carrier
# (common.jq) on the next text or functionCall part, the parts Gemini clients
# keep in their history (Gemini CLI drops thought parts); the reasoning text is
# shown as a thought part. With no such part after it the carrier sits on an
# empty thought part.
def encode_parts:
  reduce .[] as $p ({out: [], carry: []};
    if $p.type == "reasoning" and $p.signature != null and $p.signature.origin != "gemini" then
      setpath(["carry"]; .carry + ([$p | c::carried_part]))
      | (if ($p.text // "") != "" and $p.redacted != true then setpath(["out"]; .out + ([{text: $p.text, thought: true}])) else . end)
    elif ($p.type == "text" or $p.type == "tool_call") and (.carry | length) > 0 and ($p | c::own_sig) == null then
      ([$p | encode_part] | .[0]) as $w
      | if $w == null then . else setpath(["out"]; .out + ([$w + {thoughtSignature: c::carrier(.carry)}])) | setpath(["carry"]; []) end
    else setpath(["out"]; .out + ([$p | encode_part])) end)
  | .out + (if (.carry | length) > 0 then [{text: "", thought: true, thoughtSignature: c::carrier(.carry)}] else [] end);

def encode($ctx):
  (.stop // {reason: "end_turn"}) as $stop
  | (.parts // [] | encode_parts) as $parts
  | ((.usage // {input: 0, output: 0}) | c::usage_metadata) as $usage
  | (.model // $ctx.client_model // $ctx.model) as $model
  # pitfall 60: a refusal with nothing said is a blocked prompt for Gemini
  # clients: no candidates, promptFeedback.blockReason.
  | if $stop.reason == "content_filter" and ($parts | length) == 0 then
      {promptFeedback: {blockReason: ($stop | c::block_reason)}, usageMetadata: $usage}
    else
      {candidates: [{content: {parts: $parts, role: "model"}, finishReason: ($stop | c::finish_reason), index: 0}],
       usageMetadata: $usage}
    end
  + {modelVersion: $model, responseId: $ctx.request_id};
