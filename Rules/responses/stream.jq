# OpenAI Responses streams (B.7) <-> IR stream events.

import "lib/blocks" as b;
import "responses/parts" as p;
import "responses/response" as r;

# ================================================================ decode
# Upstream Responses events -> IR events, through lib/blocks. Items are keyed
# by their item id (`fc_…`), never by call_id (B.7: argument deltas carry
# item_id only). Decoder state besides lib/blocks' own:
#   args   the open tool block already received argument text
#   sx     summary_index of the open reasoning block
#   last   item id of the last block opened
#   calls  a call item was seen (stop reason tool_use, E.3)

def _start($resp):
  b::start_message(($resp // {}) | {id: (.id // ""), model: (.model // "")}
    + (if (.created_at | type) == "number" then {created: (.created_at | floor)} else {} end));

def _open($block; $key): b::open_block($block; $key) | setpath(["s", "last"]; $key) | setpath(["s", "args"]; false) | setpath(["s", "sx"]; null);

def _is_open($key): .s.open != null and .s.open.key == $key;

def _text($type; $key; $text):
  if $text == null or $text == "" then .
  else (if _is_open($key) and .s.open.type == $type then . else _open({type: $type}; $key) end)
    | b::delta({text: $text}) end;

def _fail($err): b::emit({type: "error", error: $err}) | setpath(["s", "stopped"]; true);

# pitfall 23: a freeform input streams as the JSON text {"input":"…"}, built
# fragment by fragment (each fragment JSON-escaped).
def _custom_frag($t): (if .s.args then . else b::delta({arguments: "{\"input\":\""}) | setpath(["s", "args"]; true) end)
  | b::delta({arguments: ($t | tojson | .[1:-1])});

def _call_block($it):
  {type: "tool_call", id: $it.call_id, name: ($it.name // (if $it.type == "local_shell_call" then "local_shell" else "" end)),
   kind: ({function_call: "function", custom_tool_call: "custom", local_shell_call: "local_shell"}[$it.type])};

def _item_added($it):
  if $it.type == "function_call" then
    _open(_call_block($it); $it.id) | setpath(["s", "calls"]; true)
    | if ($it.arguments // "") != "" then b::delta({arguments: $it.arguments}) | setpath(["s", "args"]; true) else . end
  elif $it.type == "custom_tool_call" then
    _open(_call_block($it); $it.id) | setpath(["s", "calls"]; true)
    | if ($it.input // "") != "" then _custom_frag($it.input) else . end
  elif $it.type == "local_shell_call" then _open(_call_block($it); $it.id) | setpath(["s", "calls"]; true)
  # message and reasoning blocks open with their first text (reasoning may
  # bring nothing but encrypted_content at output_item.done); hosted-tool
  # items have no IR stream form and are dropped (pitfall 25)
  else . end;

def _item_done($it):
  if $it.type == "function_call" then
    (if _is_open($it.id) then . else _open(_call_block($it); $it.id) | setpath(["s", "calls"]; true) end)
    | (if .s.args or ($it.arguments // "") == "" then . else b::delta({arguments: $it.arguments}) end)
    | b::close_block
  elif $it.type == "custom_tool_call" then
    (if _is_open($it.id) then . else _open(_call_block($it); $it.id) | setpath(["s", "calls"]; true) end)
    | (if .s.args then b::delta({arguments: "\"}"}) else b::delta({arguments: ({input: ($it.input // "")} | tojson)}) end)
    | b::close_block
  elif $it.type == "local_shell_call" then
    (if _is_open($it.id) then . else _open(_call_block($it); $it.id) | setpath(["s", "calls"]; true) end)
    | b::delta({arguments: ($it | p::shell_args_in)}) | b::close_block
  elif $it.type == "reasoning" then
    # B.7c: encrypted_content on .added differs from .done; the done one counts
    (if _is_open($it.id) then .
     elif (($it | p::reasoning_text) != "") or $it.encrypted_content != null then
       _open({type: "reasoning"}; $it.id) | _text("reasoning"; $it.id; $it | p::reasoning_text)
     else . end)
    | (if _is_open($it.id) and ($it.encrypted_content | type) == "string"
       then b::delta({signature: ($it.encrypted_content | p::own_signature)}) else . end)
    | (if _is_open($it.id) then b::close_block else . end)
  elif $it.type == "message" then
    # text that came only with the finished item (no deltas)
    (if .s.last == $it.id then .
     else reduce ($it.content[]?) as $c (.;
       if $c.type == "output_text" then _text("text"; $it.id; $c.text)
       elif $c.type == "refusal" then _text("refusal"; $it.id; $c.refusal) else . end) end)
    | (if _is_open($it.id) then b::close_block else . end)
  else . end;

def _finish($resp):
  ($resp // {}) as $rs
  | (.s.calls == true or any($rs.output[]?; p::is_call_item)) as $calls
  | b::finish($rs | p::stop_in($calls); $rs.usage | p::usage_in)
  | b::stop_message;

def _event($e):
  ($e.data | if type == "object" then . else {} end) as $d
  | ($d.type // $e.event) as $t
  | if $t == "response.created" or $t == "response.in_progress" or $t == "response.queued" then _start($d.response)
    elif $t == "response.output_text.delta" then _start(null) | _text("text"; $d.item_id; $d.delta)
    elif $t == "response.refusal.delta" then _start(null) | _text("refusal"; $d.item_id; $d.delta)
    elif $t == "response.reasoning_summary_text.delta" or $t == "response.reasoning_text.delta" then
      _start(null)
      | ($d.summary_index // $d.content_index // 0) as $ix
      # several summary parts are one reasoning part, paragraphs joined with a
      # blank line (as the request and response decoders join `summary`)
      | (if _is_open($d.item_id) and .s.open.type == "reasoning" and .s.sx != null and .s.sx != $ix
         then b::delta({text: "\n\n"}) else . end)
      | _text("reasoning"; $d.item_id; $d.delta) | setpath(["s", "sx"]; $ix)
    elif $t == "response.function_call_arguments.delta" then
      if _is_open($d.item_id) and ($d.delta // "") != "" then b::delta({arguments: $d.delta}) | setpath(["s", "args"]; true) else . end
    elif $t == "response.function_call_arguments.done" then
      if _is_open($d.item_id) and (.s.args | not) and ($d.arguments // "") != "" then b::delta({arguments: $d.arguments}) | setpath(["s", "args"]; true) else . end
    elif $t == "response.custom_tool_call_input.delta" then
      if _is_open($d.item_id) and ($d.delta // "") != "" then _custom_frag($d.delta) else . end
    elif $t == "response.output_item.added" then _start(null) | _item_added($d.item // {})
    elif $t == "response.output_item.done" then _start(null) | _item_done($d.item // {})
    elif $t == "response.completed" or $t == "response.incomplete" then _start($d.response) | _finish($d.response)
    elif $t == "response.failed" then
      _fail(($d.response.error // {message: "response failed"}) | p::failed_in(null))
    elif $t == "error" then _fail($d | p::failed_in(null))
    else . end;   # content_part.*, *.done, hosted-tool progress, keep-alives

def decode($ctx):
  b::run(
    reduce .events[] as $e (.; if .s.stopped then . else _event($e) end)
    # pitfall 52: EOF without a terminal event is an error, never a success
    | if .final and (.s.stopped | not) then
        _fail({status: 502, type: "server", message: "upstream stream ended before response.completed"})
      else . end);

# ================================================================ encode
# IR events -> the B.7 sequence. Every event carries `event: <type>` and a
# sequence_number counted from 0. Each IR block is one output item: added,
# (content/summary part added), deltas, the .done events with the full text,
# and output_item.done with the COMPLETE item, which is all Codex reads
# (pitfall 55). State: seq, started, done, model, items (finished output
# items, for the terminal event), cur (the open block), stop, usage.

def _ev($type; $f): .out += [{event: $type, data: ({type: $type, sequence_number: .s.seq} + $f)}] | setpath(["s", "seq"]; .s.seq + (1));

def _life($ctx; $type; $status; $inc; $err; $usage):
  _ev($type; {response: r::envelope($ctx; .s.model; $status; $inc; $err; .s.items; $usage)});

def _begin($ctx):
  if .s.started then . else setpath(["s", "started"]; true) | setpath(["s", "seq"]; (.s.seq // 0)) | setpath(["s", "items"]; (.s.items // []))
    | _life($ctx; "response.created"; "in_progress"; null; null; null)
    | _life($ctx; "response.in_progress"; "in_progress"; null; null; null) end;

def _added($item): _ev("response.output_item.added"; {output_index: .s.cur.oi, item: $item});

def _block_start($ctx; $blk0):
  ($blk0 | if .type == "tool_call" then setpath(["kind"]; p::client_kind($ctx)) else . end) as $blk
  | (.s.items | length) as $oi
  | r::item_id($ctx; ($blk | r::prefix_for); $oi) as $id
  | setpath(["s", "cur"]; {type: $blk.type, id: $id, oi: $oi, text: "", args: "", sp: false}
    + (if $blk.type == "tool_call" then {call: {id: $blk.id, name: $blk.name, kind: ($blk.kind // "function")}} else {} end)
    + (if $blk.redacted then {redacted: true} else {} end))
  | if $blk.type == "text" or $blk.type == "refusal" then
      _added({id: $id, type: "message", status: "in_progress", content: [], role: "assistant"})
      | _ev("response.content_part.added"; {item_id: $id, output_index: $oi, content_index: 0,
          part: (if $blk.type == "text" then {type: "output_text", annotations: [], logprobs: [], text: ""} else {type: "refusal", refusal: ""} end)})
    elif $blk.type == "reasoning" then _added({id: $id, type: "reasoning", summary: []})
    elif $blk.type == "tool_call" then
      if .s.cur.call.kind == "custom" then
        _added({id: $id, type: "custom_tool_call", status: "in_progress", call_id: $blk.id, name: $blk.name, input: ""})
      elif .s.cur.call.kind == "local_shell" then
        _added({id: $id, type: "local_shell_call", call_id: $blk.id, status: "in_progress", action: {type: "exec", command: [], env: {}}})
      else _added({id: $id, type: "function_call", status: "in_progress", arguments: "", call_id: $blk.id, name: $blk.name}) end
    else . end;

def _block_delta($d):
  .s.cur as $c
  | if $d.signature != null then setpath(["s", "cur", "sig"]; $d.signature)
    elif $c.type == "text" and $d.text != null then
      setpath(["s", "cur", "text"]; .s.cur.text + ($d.text))
      | _ev("response.output_text.delta"; {item_id: $c.id, output_index: $c.oi, content_index: 0, delta: $d.text, logprobs: []})
    elif $c.type == "refusal" and $d.text != null then
      setpath(["s", "cur", "text"]; .s.cur.text + ($d.text))
      | _ev("response.refusal.delta"; {item_id: $c.id, output_index: $c.oi, content_index: 0, delta: $d.text})
    elif $c.type == "reasoning" and $d.text != null then
      setpath(["s", "cur", "text"]; .s.cur.text + ($d.text))
      | (if $c.sp then . else setpath(["s", "cur", "sp"]; true)
          | _ev("response.reasoning_summary_part.added"; {item_id: $c.id, output_index: $c.oi, summary_index: 0, part: {type: "summary_text", text: ""}}) end)
      | _ev("response.reasoning_summary_text.delta"; {item_id: $c.id, output_index: $c.oi, summary_index: 0, delta: $d.text})
    elif $c.type == "tool_call" and $d.arguments != null then
      setpath(["s", "cur", "args"]; .s.cur.args + ($d.arguments))
      # custom and local_shell items are sent whole at the end: their wire
      # form is not the IR's JSON text
      | if $c.call.kind == "function" then _ev("response.function_call_arguments.delta"; {item_id: $c.id, output_index: $c.oi, delta: $d.arguments})
        else . end
    else . end;

def _done($item): _ev("response.output_item.done"; {output_index: .s.cur.oi, item: $item}) | setpath(["s", "items"]; .s.items + ([$item]));

def _block_stop($ctx):
  .s.cur as $c
  | if $c == null then .
    elif $c.type == "text" or $c.type == "refusal" then
      (if $c.type == "text" then {type: "output_text", annotations: [], logprobs: [], text: $c.text} else {type: "refusal", refusal: $c.text} end) as $part
      | (if $c.type == "text" then _ev("response.output_text.done"; {item_id: $c.id, output_index: $c.oi, content_index: 0, text: $c.text, logprobs: []})
         else _ev("response.refusal.done"; {item_id: $c.id, output_index: $c.oi, content_index: 0, refusal: $c.text}) end)
      | _ev("response.content_part.done"; {item_id: $c.id, output_index: $c.oi, content_index: 0, part: $part})
      | _done({id: $c.id, type: "message", status: "completed", role: "assistant", content: [$part]})
    elif $c.type == "reasoning" then
      (if $c.sp then
         _ev("response.reasoning_summary_text.done"; {item_id: $c.id, output_index: $c.oi, summary_index: 0, text: $c.text})
         | _ev("response.reasoning_summary_part.done"; {item_id: $c.id, output_index: $c.oi, summary_index: 0, part: {type: "summary_text", text: $c.text}})
       else . end)
      | _done({type: "reasoning", text: $c.text}
          + (if $c.sig then {signature: $c.sig} else {} end) + (if $c.redacted then {redacted: true} else {} end)
          | p::reasoning_out($c.id; true))
    elif $c.type == "tool_call" then
      ({type: "tool_call", id: $c.call.id, name: $c.call.name, kind: $c.call.kind,
        arguments: (if $c.args == "" then "{}" else $c.args end)} | p::call_out($c.id)) as $item
      | (if $c.call.kind == "function" then
           _ev("response.function_call_arguments.done"; {item_id: $c.id, output_index: $c.oi, arguments: $item.arguments})
         elif $c.call.kind == "custom" then
           _ev("response.custom_tool_call_input.delta"; {item_id: $c.id, output_index: $c.oi, delta: $item.input})
           | _ev("response.custom_tool_call_input.done"; {item_id: $c.id, output_index: $c.oi, input: $item.input})
         else . end)
      | _done($item)
    else . end
  # a foreign signature on a text or tool_call part rides in a carrier item
  # right after it (pitfall 45; response.jq does the same)
  | if $c != null and $c.type != "reasoning" and $c.sig != null and $c.sig.origin != "responses" then
      (.s.items | length) as $oi
      | ({type: (if $c.type == "tool_call" then "tool_call" else "text" end), signature: $c.sig}
         + (if $c.type == "tool_call" then {id: $c.call.id} else {} end)) as $pt
      | ($pt | r::carrier_item(r::item_id($ctx; "rs"; $oi))) as $ci
      | setpath(["s", "cur"]; {oi: $oi}) | _added($ci) | _done($ci)
    else . end
  | setpath(["s", "cur"]; null);

def _terminal($ctx):
  ((.s.stop // {reason: "end_turn"}) | p::status_out) as $st
  | _life($ctx; (if $st[0] == "incomplete" then "response.incomplete" else "response.completed" end);
      $st[0]; $st[1]; null; ((.s.usage // {}) | p::usage_out))
  | setpath(["s", "done"]; true);

def _failed($ctx; $err):
  _begin($ctx) | _life($ctx; "response.failed"; "failed"; null; ($err | p::failed_error); null) | setpath(["s", "done"]; true);

def _encode_event($ctx; $e):
  if $e.type == "message_start" then
    setpath(["s", "model"]; (.s.model // $e.model))
    | (if $e.usage then setpath(["s", "usage"]; ((.s.usage // {}) + $e.usage)) else . end)
    | _begin($ctx)
  elif $e.type == "block_start" then _begin($ctx) | (if .s.cur then _block_stop($ctx) else . end) | _block_start($ctx; $e.block)
  elif $e.type == "block_delta" then (if .s.cur then _block_delta($e) else . end)
  elif $e.type == "block_stop" then _block_stop($ctx)
  elif $e.type == "message_delta" then
    (if $e.stop then setpath(["s", "stop"]; $e.stop) else . end)
    | (if $e.usage then setpath(["s", "usage"]; ((.s.usage // {}) + $e.usage)) else . end)
  elif $e.type == "message_stop" then _begin($ctx) | (if .s.cur then _block_stop($ctx) else . end) | _terminal($ctx)
  elif $e.type == "error" then _failed($ctx; $e.error)
  else . end;

def encode($ctx):
  {s: (.state // {seq: 0}), out: [], final: .final, events: .events}
  | reduce .events[] as $e (.; if .s.done then . else _encode_event($ctx; $e) end)
  # a decoder always ends with message_stop or error; this is only a guard
  | (if .final and (.s.done | not) then _failed($ctx; {type: "server", message: "stream ended before completion"}) else . end)
  | {state: .s, out: .out};
