# OpenAI Responses non-stream bodies (the Response object, B.6) <-> IR responses.

import "responses/parts" as p;

# ================================================================ decode

def _item_parts($at):
  if .type == "message" then
    .content[]? | if .type == "output_text" then {type: "text", text: (.text // "")}
      elif .type == "refusal" then {type: "refusal", text: (.refusal // "")}
      else empty end   # pitfall 61: annotations/citations are dropped
  elif p::is_call_item then p::call_in($at)
  elif .type == "reasoning" then
    # gpt-5 emits reasoning items even without summaries or include (B.3);
    # an item with neither text nor encrypted_content says nothing
    p::reasoning_in | select(.text != "" or .signature != null) | del(.ext)
  else {type: "opaque", dialect: "responses", value: .} end;

def decode($ctx):
  if type != "object" then error("response: expected a JSON object") else . end
  | [(.output // []) | to_entries[] | .key as $k | .value | _item_parts("output[\($k)]")] as $parts
  | any(.output[]?; p::is_call_item) as $calls
  | ((.status == "failed" or ((.error | type) == "object" and .status != "completed"))) as $failed
  | {id: (.id // ""), model: (.model // "")}
  + (if (.created_at | type) == "number" then {created: (.created_at | floor)} else {} end)
  + {parts: $parts, stop: p::stop_in($calls), usage: ((.usage | p::usage_in) // {input: 0, output: 0})}
  # A failed Response in a 200 body: the IR response has no error slot, so the
  # stop says `other` and the IR error rides in ext (ambiguous; a runtime that
  # wants an error status can look there). Our encoder turns it back into a
  # failed Response.
  + (if $failed then {ext: {responses: {error: ((.error // {message: "response failed"}) | p::failed_in(null))}}} else {} end);

# ================================================================ encode

# The Response object around a given output: what the final body and every
# lifecycle event of a stream carry. The client's own request settings are
# echoed from $ctx.request (always a Responses request here), with the API's
# defaults where the client sent nothing. The model is the one the client
# named (ambiguous: the upstream's own name would leak the aliasing).
def envelope($ctx; $model; $status; $incomplete; $error; $output; $usage):
  ($ctx.request // {} | if type == "object" then . else {} end) as $q
  | {id: "resp_\($ctx.request_id)", object: "response", created_at: $ctx.created, status: $status,
     error: $error, incomplete_details: $incomplete,
     instructions: ($q.instructions | if type == "string" then . else null end),
     max_output_tokens: ($q.max_output_tokens // null),
     model: ($ctx.client_model // $model // $q.model // ""),
     output: $output,
     parallel_tool_calls: ($q.parallel_tool_calls // true),
     previous_response_id: null,
     prompt_cache_key: ($q.prompt_cache_key // null),
     reasoning: ($q.reasoning | if type == "object" then {effort: (.effort // null), summary: (.summary // null)} else null end),
     safety_identifier: ($q.safety_identifier // null),
     service_tier: ($q.service_tier // "default"),
     store: false,
     temperature: ($q.temperature // 1.0),
     text: {format: ($q.text.format // {type: "text"}), verbosity: ($q.text.verbosity // "medium")},
     tool_choice: ($q.tool_choice // "auto"),
     tools: ($q.tools // []),
     top_p: ($q.top_p // 1.0),
     truncation: ($q.truncation // "disabled"),
     usage: $usage,
     user: null,
     metadata: ($q.metadata // {})};

def item_id($ctx; $prefix; $n): "\($prefix)_\($ctx.request_id)_\($n)";

def prefix_for:
  if .type == "reasoning" then "rs"
  elif .type == "tool_call" then ({custom: "ctc", local_shell: "lsh"}[.kind // "function"] // "fc")
  else "msg" end;

# The carrier item that follows a text or tool_call part holding a foreign
# signature (Gemini): the signature rides in encrypted_content (pitfall 45) and
# the request decoder puts it back on that part.
def carrier_item($id):
  {id: $id, type: "reasoning", summary: [],
   encrypted_content: ((if .type == "tool_call" then {type, id} else {type} end) + {signature} | p::carrier_wrap)};

def has_foreign_sig: .signature != null and .signature.origin != "responses";

# One IR part -> the output item (complete) at output index $n.
def output_item($ctx; $n):
  (if .type == "tool_call" then setpath(["kind"]; p::client_kind($ctx)) else . end)
  | item_id($ctx; prefix_for; $n) as $id
  | if .type == "text" then
      {id: $id, type: "message", status: "completed", role: "assistant",
       content: [{type: "output_text", annotations: [], logprobs: [], text}]}
    elif .type == "refusal" then
      {id: $id, type: "message", status: "completed", role: "assistant", content: [{type: "refusal", refusal: .text}]}
    elif .type == "tool_call" then p::call_out($id)
    elif .type == "reasoning" then p::reasoning_out($id; true)
    elif .type == "opaque" and .dialect == "responses" then .value
    else empty end;

# Consecutive text parts are one answer (a Gemini body may split it anywhere;
# the stream decoders already merge deltas): join them, keeping the last
# signature.
def _merge_text:
  reduce .[] as $pt ([];
    if $pt.type == "text" and length > 0 and .[-1].type == "text" and .[-1].signature == null
    then .[-1].text += $pt.text | (if $pt.signature then .[-1].signature = $pt.signature else . end)
    else . + [$pt] end);

def output_items($ctx):
  reduce (_merge_text[]) as $pt ([];
    length as $n
    | ([$pt | output_item($ctx; $n)]) as $it
    | . + $it
    | if ($it | length) > 0 and $pt.type != "reasoning" and ($pt | has_foreign_sig)
      then . + [$pt | carrier_item(item_id($ctx; "rs"; $n + 1))] else . end);

def encode($ctx):
  # {error} is what lib/collect gives for a stream that failed
  if .error or .ext.responses.error then
    envelope($ctx; .model; "failed"; null; ((.error // .ext.responses.error) | p::failed_error);
      ((.parts // []) | output_items($ctx)); null)
  else
    (.stop // {reason: "end_turn"} | p::status_out) as $st
    | envelope($ctx; .model; $st[0]; $st[1]; null; ((.parts // []) | output_items($ctx)); ((.usage // {}) | p::usage_out))
  end;
