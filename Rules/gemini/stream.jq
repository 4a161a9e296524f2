# streamGenerateContent?alt=sse (wire-formats.md D.5) <-> IR stream events.
# Every SSE event is one whole GenerateContentResponse carrying only the new
# parts; no event names, no terminator: the chunk with finishReason is the end.
import "lib/blocks" as b;
import "lib/json" as json;
import "gemini/common" as c;
import "gemini/response" as r;

# ============================================================================
# decode: Gemini chunks -> IR events
# ============================================================================

def _signature_on($type; $v):
  if $v == null then .
  else (if .s.open.type == $type then . else b::open_block({type: $type}; null) end)
    | b::delta({signature: c::sig($v)}) end;

def _part($p; $ctx):
  if ($p | type) != "object" then .
  elif $p.functionCall != null then
    # pitfall 53: Gemini sends whole calls, so a call is one block with the
    # complete arguments in one delta.
    ($p.functionCall.id // r::call_id($ctx; .s.rid; (.s.calls // 0))) as $id
    | b::open_block({type: "tool_call", id: $id, name: ($p.functionCall.name // ""), kind: "function"}; null)
    | b::delta({arguments: ($p.functionCall.args | json::args_text)})
    | (if $p.thoughtSignature != null then b::delta({signature: c::sig($p.thoughtSignature)}) else . end)
    | b::close_block
    | setpath(["s", "calls"]; (.s.calls // 0) + 1)
  elif ($p.text | type) == "string" then
    if $p.thought == true then
      b::text_delta("reasoning"; $p.text) | _signature_on("reasoning"; $p.thoughtSignature)
    else
      # pitfall 48: the closing {"text":"","thoughtSignature"} adds no text;
      # its signature lands on the open text block.
      b::text_delta("text"; $p.text) | _signature_on("text"; $p.thoughtSignature)
    end
  # inlineData, executableCode, codeExecutionResult...: no IR block for them
  else . end;

def _chunk($d; $ctx):
  b::start_message({id: ($d.responseId // $ctx.request_id // ""), model: ($d.modelVersion // $ctx.model // "")})
  | (if .s.rid == null and $d.responseId != null then setpath(["s", "rid"]; $d.responseId) else . end)
  | ($d.candidates[0]? // null) as $cand
  | reduce ($cand.content.parts // [])[] as $p (.; _part($p; $ctx))
  | (if $cand.finishReason != null then setpath(["s", "finish"]; $cand.finishReason) else . end)
  # pitfall 56: usageMetadata is cumulative on every chunk; the last one wins
  | (if $d.usageMetadata != null then setpath(["s", "usage"]; ($d.usageMetadata | c::usage_of)) else . end)
  | (if $cand == null and $d.promptFeedback.blockReason != null then setpath(["s", "blocked"]; $d.promptFeedback.blockReason) else . end);

def _end($ctx):
  if .s.finish != null or .s.blocked != null then
    b::start_message({id: (.s.rid // $ctx.request_id // ""), model: ($ctx.model // "")})
    | (if .s.blocked != null and .s.finish == null then c::blocked_stop(.s.blocked)
       else c::stop_of(.s.finish; (.s.calls // 0) > 0) end) as $stop
    | b::finish($stop; .s.usage) | b::stop_message
  else
    # D.7, pitfall 52: EOF without any finishReason is a failure, not a success.
    b::emit({type: "error", error: {status: 502, type: "server",
      message: "the Gemini stream ended without a finishReason"}})
    | setpath(["s", "done"]; true)
  end;

def decode($ctx):
  b::run(
    reduce .events[] as $e (.;
      if .s.done or .s.stopped then .
      else $e.data as $d
        | if ($d | type) != "object" then .
          # a final {"error": {...}} chunk (D.7): an IR error, nothing after it
          elif $d.error != null then
            b::emit({type: "error", error: ($d | c::ir_error($d.error.code // 500))}) | setpath(["s", "done"]; true)
          else _chunk($d; $ctx) end
      end)
    | if .final and ((.s.done // false) | not) and ((.s.stopped // false) | not) then _end($ctx) else . end);

# ============================================================================
# encode: IR events -> Gemini chunks
# ============================================================================

def _emit_parts($parts; $ctx):
  .s.emitted = true
  | setpath(["out"]; .out + ([{event: null, data: {candidates: [{content: {parts: $parts, role: "model"}, index: 0}],
                                  modelVersion: .s.model, responseId: $ctx.request_id}}]));

# The closing chunk carries finishReason (E.3) and, as the only chunk, the
# usageMetadata (choice: Gemini repeats cumulative usage on every chunk, but a
# translated stream only knows the totals at the end; clients keep the last).
def _final_chunk($ctx):
  (.s.stop // {reason: "end_turn"}) as $stop
  | ((.s.usage // {input: 0, output: 0}) | c::usage_metadata) as $usage
  | if $stop.reason == "content_filter" and (.s.emitted | not) then
      setpath(["out"]; .out + ([{event: null, data: {promptFeedback: {blockReason: ($stop | c::block_reason)}, usageMetadata: $usage,
                                    modelVersion: .s.model, responseId: $ctx.request_id}}]))
    else
      # the closing chunk has no parts (as Gemini 2.5 sends it): an empty
      # text part would end up in the client's history
      setpath(["out"]; .out + ([{event: null, data: {candidates: [{content: {role: "model"}, finishReason: ($stop | c::finish_reason), index: 0}],
                                    usageMetadata: $usage, modelVersion: .s.model, responseId: $ctx.request_id}}]))
    end;

# A carrier of the foreign reasoning signatures seen since the last part
# (response.jq encode_parts): it rides on the next text or functionCall part.
def _take_carrier: if (.s.carry // []) | length > 0 then {thoughtSignature: c::carrier(.s.carry)} else {} end;

def _event($e; $ctx):
  if $e.type == "message_start" then setpath(["s", "model"]; ($e.model // .s.model))
  elif $e.type == "block_start" then setpath(["s", "cur"]; ($e.block + {index: $e.index, args: "", text: ""}))
  elif $e.type == "block_delta" then
    if $e.text != null then
      if $e.text == "" or .s.cur.type == "tool_call" then .
      elif .s.cur.type == "reasoning" then setpath(["s", "cur", "text"]; .s.cur.text + ($e.text)) | _emit_parts([{text: $e.text, thought: true}]; $ctx)
      else _emit_parts([{text: $e.text} + _take_carrier]; $ctx) | setpath(["s", "carry"]; []) end
    elif $e.arguments != null then setpath(["s", "cur", "args"]; .s.cur.args + ($e.arguments))
    elif $e.signature != null then
      # only Gemini's own signatures go to a Gemini client as they are
      # (pitfall 44); a foreign one on reasoning travels in a carrier
      if $e.signature.origin != "gemini" then (if .s.cur.type == "reasoning" then setpath(["s", "cur", "fsig"]; $e.signature) else . end)
      elif .s.cur.type == "tool_call" then setpath(["s", "cur", "sig"]; $e.signature.value)
      elif .s.cur.type == "reasoning" then _emit_parts([{text: "", thought: true, thoughtSignature: $e.signature.value}]; $ctx)
      else _emit_parts([{text: "", thoughtSignature: $e.signature.value}]; $ctx) end
    else . end
  elif $e.type == "block_stop" then
    # pitfall 53: argument fragments are buffered; the call goes out whole
    (if .s.cur.type == "tool_call" then
       .s.cur as $t
       | _emit_parts([{functionCall: ((if $t.id != null then {id: $t.id} else {} end)
                                      + {name: $t.name, args: ($t.args | json::args_object)})}
                      + (if $t.sig != null then c::sig_field($t.sig) else _take_carrier end)]; $ctx)
       | setpath(["s", "carry"]; [])
     elif .s.cur.type == "reasoning" and .s.cur.fsig != null then
       setpath(["s", "carry"]; ((.s.carry // []) + [.s.cur | .signature = .fsig | c::carried_part]))
     else . end)
    | setpath(["s", "cur"]; null)
  elif $e.type == "message_delta" then
    (if $e.stop != null then setpath(["s", "stop"]; $e.stop) else . end)
    | (if $e.usage != null then setpath(["s", "usage"]; ((.s.usage // {}) + $e.usage)) else . end)
  elif $e.type == "message_stop" then
    (if (.s.carry // []) | length > 0 then _emit_parts([{text: "", thought: true} + _take_carrier]; $ctx) | setpath(["s", "carry"]; []) else . end)
    | _final_chunk($ctx) | setpath(["s", "done"]; true)
  elif $e.type == "error" then
    # E.6 (ambiguous on the client side): a last data chunk holding the
    # Google error object, then EOF.
    setpath(["out"]; .out + ([{event: null, data: ($e.error | c::google_error)}])) | setpath(["s", "done"]; true)
  else . end;

def encode($ctx):
  reduce .events[] as $e ({s: ((.state // {}) | .model //= ($ctx.client_model // $ctx.model)), out: []};
    if .s.done then . else _event($e; $ctx) end)
  | {state: .s, out};
