# Anthropic Messages responses (the `Message` object, section C.5).
#   decode($ctx)  Anthropic upstream body -> IR response
#   encode($ctx)  IR response -> Message for a Claude client

import "lib/json" as json;
import "lib/ids" as ids;
import "claude/parts" as p;

# tool_use.caller ({"type":"direct"}) has no slot in IR stream events, so a
# streamed and a whole answer would differ by it; it is informational only.
def _drop_caller:
  if .type == "tool_call" and .ext.claude.caller != null then
    del(.ext.claude.caller) | if (.ext.claude | length) == 0 then del(.ext) else . end
  else . end;

def decode($ctx):
  if type != "object" then error("response: must be a JSON object") else . end
  | {id: (.id // ""), model: (.model // $ctx.model)}
    + {parts: ([(.content // []) | range(length) as $k | .[$k] | p::block_part("content[\($k)]") | _drop_caller] | p::place_carriers)}
    + {stop: (p::stop_ir(.stop_reason; .stop_sequence) // {reason: "end_turn"})}
    + {usage: ((.usage // {}) | p::usage_ir)}
    # stop_details (refusal category, SDK-new) and container have no IR field
    + ({stop_details, container} | with_entries(select(.value != null)) | if length > 0 then {ext: {claude: .}} else {} end);

# IR parts -> Message content blocks.
#   reasoning with a Claude signature -> thinking / redacted_thinking
#   reasoning with a foreign signature -> thinking block whose signature is a
#     carrier (README "Signature carriers", pitfall 45)
#   reasoning without a signature -> omitted (pitfall 49, choice: a Claude
#     client would send an unsigned thinking block back, and a signature must
#     never be made up; the thinking text is not shown)
#   a Gemini signature on a text or tool_call part -> an empty thinking
#     carrier right after that block (parts.jq explains why after)
#   never an empty text block (pitfall 7, 48)
def _carrier_block($part): {type: "thinking", thinking: "", signature: p::carrier($part)};

def content_blocks:
  [.[]
   | if .type == "reasoning" then
       if .signature.origin == "claude" then p::thinking_block
       elif (.signature.value | type) == "string" then {type: "thinking", thinking: (.text // ""), signature: p::carrier(.)}
       else empty end
     elif .type == "text" or .type == "refusal" then
       # a refusal is what the model said; the stop reason says it refused (pitfall 60)
       ({type: "text", text: .text} + p::claude_ext | select(.text | type == "string" and length > 0)),
       (if (.signature.value | type) == "string" then _carrier_block({type: "text", signature: .signature}) else empty end)
     elif .type == "tool_call" then
       p::tool_use_block as $b
       | $b,
         (if (.signature.value | type) == "string" then _carrier_block({type: "tool_call", id: $b.id, signature: .signature}) else empty end)
     elif .type == "opaque" and .dialect == "claude" then .value
     # images, audio, foreign opaque items: Message content has no slot
     else empty end];

# The stop reason, corrected for upstreams that do not say "tool" (pitfall 57).
def stop_reason($blocks):
  (.stop.reason | p::stop_wire) as $s
  | if ($s == "end_turn") and any($blocks[]; .type == "tool_use") then "tool_use" else $s end;

def encode($ctx):
  (.parts // [] | content_blocks) as $blocks
  | stop_reason($blocks) as $reason
  # ambiguous: the model the client asked for, not the upstream's (it chose
  # a Claude model name; an upstream model id of another vendor means nothing to it)
  | {id: "msg_\($ctx.request_id)", type: "message", role: "assistant",
     model: ($ctx.client_model // .model),
     content: $blocks,
     stop_reason: $reason,
     stop_sequence: (if $reason == "stop_sequence" then .stop.sequence else null end),
     usage: ((.usage // {}) | p::usage_wire)};
