# Anthropic Messages streams (section C.6).
#   decode($ctx)  {state, events: [{event, data}], final} -> {state, out: [IR event]}
#   encode($ctx)  {state, events: [IR event], final} -> {state, out: [{event, data}]}

import "lib/blocks" as b;
import "lib/ids" as ids;
import "claude/parts" as p;
import "claude/error" as err;

# ================================================================ decode
#
# Anthropic already streams blocks one at a time in index order; the decoder
# follows lib/blocks so that its IR indices are its own (server-tool blocks
# have no IR stream block and are skipped, pitfall 21). Decoder state, besides
# lib/blocks' own: `usage` (the wire usage so far: message_start's input
# counts overwritten by message_delta's cumulative ones), `stop` (the
# message_delta's delta), `args` (the open tool_use got arguments), `done`.

def _dstart($m):
  .s.usage = (($m.usage // {}) | with_entries(select(.value != null)))
  | b::start_message({id: ($m.id // ""), model: ($m.model // "")}
      + (if ($m.usage | type) == "object" then {usage: ($m.usage | p::usage_ir)} else {} end));

def _dblock_start($d):
  ($d.content_block // {}) as $cb
  | $d.index as $i
  | b::start_message({id: "", model: ""})
  | if $cb.type == "text" then
      b::open_block({type: "text"}; $i)
      | if ($cb.text | type) == "string" and $cb.text != "" then b::delta({text: $cb.text}) else . end
    elif $cb.type == "thinking" then
      b::open_block({type: "reasoning"}; $i)
      | (if ($cb.thinking | type) == "string" and $cb.thinking != "" then b::delta({text: $cb.thinking}) else . end)
      | (if ($cb.signature | type) == "string" and $cb.signature != "" then b::delta({signature: {origin: "claude", value: $cb.signature}}) else . end)
    elif $cb.type == "redacted_thinking" then
      # arrives complete in its start event (C.6); pitfall 50
      b::open_block({type: "reasoning", redacted: true}; $i)
      | b::delta({signature: {origin: "claude", value: $cb.data}})
    elif $cb.type == "tool_use" then
      b::open_block({type: "tool_call", id: $cb.id, name: $cb.name, kind: "function"}; $i)
      # the start's "input": {} is a placeholder (C.6); a relay that puts the
      # whole input there instead of in deltas is taken at its word
      | if ($cb.input | type) == "object" and ($cb.input | length) > 0
        then b::delta({arguments: ($cb.input | tojson)}) | setpath(["s", "args"]; true)
        else setpath(["s", "args"]; false) end
    else b::close_block end;   # server-tool and unknown blocks: no IR block

def _dblock_delta($d):
  if .s.open == null or .s.open.key != $d.index then .
  else ($d.delta // {}) as $x
    | if $x.type == "text_delta" or $x.type == "thinking_delta" then
        (if $x.type == "text_delta" then $x.text else $x.thinking end) as $t
        | if ($t | type) == "string" and $t != "" then b::delta({text: $t}) else . end
      elif $x.type == "signature_delta" then b::delta({signature: {origin: "claude", value: $x.signature}})
      elif $x.type == "input_json_delta" then
        # the first fragment is often "" (C.6)
        if ($x.partial_json | type) == "string" and $x.partial_json != "" then b::delta({arguments: $x.partial_json}) | setpath(["s", "args"]; true) else . end
      else . end   # citations_delta: no IR slot (pitfall 61)
  end;

def _dblock_stop($d):
  if .s.open == null or .s.open.key != $d.index then .
  else
    # a call streamed without input fragments is a call without arguments (pitfall 16)
    (if .s.open.type == "tool_call" and (.s.args | not) then b::delta({arguments: "{}"}) else . end)
    | b::close_block
  end;

def _derror($e):
  (($e // {}) | if type == "object" then . else {} end) as $e
  | setpath(["s", "done"]; true)
  | b::emit({type: "error", error: ($e | err::from_error_object($e.type | err::status_for_type))});

def _dstep:
  reduce .events[] as $ev (.;
    if .s.done then .   # nothing follows message_stop or an error
    else ($ev.data | if type == "object" then . else {} end) as $d
      | ($d.type // $ev.event) as $t
      | if $t == "message_start" then _dstart($d.message // {})
        elif $t == "content_block_start" then _dblock_start($d)
        elif $t == "content_block_delta" then _dblock_delta($d)
        elif $t == "content_block_stop" then _dblock_stop($d)
        elif $t == "message_delta" then
          setpath(["s", "stop"]; ($d.delta // {}))
          # cumulative (C.6): the latest value of each count wins
          | setpath(["s", "usage"]; ((.s.usage // {}) + (($d.usage // {}) | with_entries(select(.value != null)))))
        elif $t == "message_stop" then
          b::start_message({id: "", model: ""})
          | b::finish(p::stop_ir(.s.stop.stop_reason; .s.stop.stop_sequence); (.s.usage // {} | p::usage_ir))
          | b::stop_message
          | setpath(["s", "done"]; true)
        elif $t == "error" then _derror($d.error)
        else . end   # ping and unknown events (pitfall 58)
    end)
  # pitfall 52: the upstream ended without message_stop: an error, never a success
  | if .final and (.s.done | not) then
      setpath(["s", "done"]; true)
      | b::emit({type: "error", error: {status: 502, type: "server", message: "The Anthropic stream ended before message_stop."}})
    else . end;

def decode($ctx): b::run(_dstep);

# ================================================================ encode
#
# Claude clients need `event:` lines (C.9: the SDK drops events without
# them), message_start first, blocks 0, 1, 2, … opened and closed one at a
# time (pitfall 54), message_delta with the final stop and usage, then
# message_stop. Encoder state: `started`, `n` (next Claude index), `ci` (the
# open Claude block's index), `cur` (the IR block being translated), `tools`
# (tool_use blocks sent), `u0` (the IR usage of message_start), `done`.
#
# Block policy (same as response.jq, so a stream and a whole answer agree):
#   text: opened at its first non-empty delta, never empty (pitfall 7, 48)
#   reasoning: held back until its signature is known: a Claude one opens a
#     thinking block (signature_delta right before content_block_stop), a
#     foreign one a carrier thinking block, none at all drops it (pitfall 49)
#   tool_call: tool_use with input {} then input_json_delta fragments
#   a Gemini signature on text or a call: empty carrier thinking block after it

def _ev($name; $data): .out += [{event: $name, data: $data}];
def _open($cb): .s.ci = (.s.n // 0) | setpath(["s", "n"]; .s.ci + 1) | _ev("content_block_start"; {type: "content_block_start", index: .s.ci, content_block: $cb});
def _delta($d): _ev("content_block_delta"; {type: "content_block_delta", index: .s.ci, delta: $d});
def _close: _ev("content_block_stop"; {type: "content_block_stop", index: .s.ci});
def _thinking_start: _open({type: "thinking", thinking: "", signature: ""});
def _carrier_block($part): _thinking_start | _delta({type: "signature_delta", signature: p::carrier($part)}) | _close;

def _estart($ctx; $e):
  if .s.started then .
  else setpath(["s", "started"]; true)
    | setpath(["s", "u0"]; ($e.usage // null))
    | _ev("message_start"; {type: "message_start", message: {
        id: "msg_\($ctx.request_id)", type: "message", role: "assistant",
        model: ($ctx.client_model // $e.model), content: [], stop_reason: null, stop_sequence: null,
        # pitfall 56: input counts may only be known at the end (then 0 here,
        # the real ones in message_delta); output_tokens is a placeholder
        usage: (($e.usage // {input: 0, output: 0}) | p::usage_wire | if .output_tokens < 1 then setpath(["output_tokens"]; 1) else . end)}})
  end;

def _eblock_start($b):
  if $b.type == "tool_call" then
    ($b.id | ids::safe_id) as $id
    | _open({type: "tool_use", id: $id, name: $b.name, input: {}})
    | setpath(["s", "cur"]; {t: "tool", id: $id}) | setpath(["s", "tools"]; (.s.tools // 0) + 1)
  elif $b.type == "reasoning" then setpath(["s", "cur"]; {t: "reasoning", redacted: ($b.redacted == true), open: false, buf: ""})
  else setpath(["s", "cur"]; {t: "text", open: false}) end;   # text, refusal (pitfall 60: a refusal is text here)

def _eblock_delta($e):
  if .s.cur == null then .
  elif .s.cur.t == "text" then
    (if ($e.text | type) == "string" and $e.text != "" then
       (if .s.cur.open then . else _open({type: "text", text: ""}) | setpath(["s", "cur", "open"]; true) end)
       | _delta({type: "text_delta", text: $e.text})
     else . end)
    | if $e.signature != null then setpath(["s", "cur", "sig"]; $e.signature) else . end
  elif .s.cur.t == "tool" then
    (if ($e.arguments | type) == "string" and $e.arguments != "" then _delta({type: "input_json_delta", partial_json: $e.arguments}) else . end)
    | if $e.signature != null then setpath(["s", "cur", "sig"]; $e.signature) else . end
  else # reasoning
    (if ($e.text | type) == "string" and $e.text != "" then
       (if .s.cur.open then _delta({type: "thinking_delta", thinking: $e.text}) else setpath(["s", "cur", "buf"]; .s.cur.buf + ($e.text)) end)
     else . end)
    | if $e.signature != null then
        setpath(["s", "cur", "sig"]; $e.signature)
        | if .s.cur.redacted or .s.cur.open then .
          else _thinking_start | setpath(["s", "cur", "open"]; true)
            | (if .s.cur.buf != "" then _delta({type: "thinking_delta", thinking: .s.cur.buf}) else . end)
            | setpath(["s", "cur", "buf"]; "")
          end
      else . end
  end;

def _eblock_stop:
  .s.cur as $c
  | if $c == null then .
    elif $c.t == "text" then
      (if $c.open then _close else . end)
      | if $c.sig != null then _carrier_block({type: "text", signature: $c.sig}) else . end
    elif $c.t == "tool" then
      _close
      | if $c.sig != null then _carrier_block({type: "tool_call", id: $c.id, signature: $c.sig}) else . end
    elif $c.redacted then
      if $c.sig == null then .
      elif $c.sig.origin == "claude" then _open({type: "redacted_thinking", data: $c.sig.value}) | _close
      else _carrier_block({type: "reasoning", redacted: true, signature: $c.sig}) end
    elif $c.open then
      _delta({type: "signature_delta", signature:
               (if $c.sig.origin == "claude" then $c.sig.value else p::carrier({type: "reasoning", signature: $c.sig}) end)})
      | _close
    else . end   # reasoning without a signature: omitted (pitfall 49)
  | setpath(["s", "cur"]; null);

def _emessage_delta($e):
  (($e.stop.reason // "end_turn") | p::stop_wire) as $r
  # pitfall 57: an upstream that never says "tool"
  | (if $r == "end_turn" and (.s.tools // 0) > 0 then "tool_use" else $r end) as $reason
  | _ev("message_delta"; {type: "message_delta",
      delta: {stop_reason: $reason, stop_sequence: (if $reason == "stop_sequence" then $e.stop.sequence else null end)},
      usage: (((.s.u0 // {}) + ($e.usage // {})) | p::usage_wire)});

def _eerror($error):
  .s.done = true
  | _ev("error"; {type: "error", error: ($error | err::wire_error)});

def _estep($ctx):
  reduce .events[] as $e (.;
    if .s.done then .
    elif $e.type == "message_start" then _estart($ctx; $e)
    elif $e.type == "block_start" then _eblock_start($e.block)
    elif $e.type == "block_delta" then _eblock_delta($e)
    elif $e.type == "block_stop" then _eblock_stop
    elif $e.type == "message_delta" then _emessage_delta($e)
    elif $e.type == "message_stop" then _ev("message_stop"; {type: "message_stop"}) | setpath(["s", "done"]; true)
    elif $e.type == "error" then _eerror($e.error // {})
    else . end)
  # the IR promises message_stop or error; if it broke that promise the
  # client must not see a truncated success (pitfall 52)
  | if .final and (.s.done | not) then _eerror({type: "server", message: "The upstream stream ended unexpectedly."}) else . end;

def encode($ctx): b::run(_estep($ctx));
