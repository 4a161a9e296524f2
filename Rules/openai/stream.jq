# OpenAI Chat Completions streams (wire-formats.md A.5) <-> IR stream events.
import "lib/blocks" as b;
import "lib/ids" as ids;
import "openai/common" as c;

def _str: if type == "string" then . else null end;

# ================================================================== decode
#
# Decoder state `.s` (besides lib/blocks' started/open/next):
#   calls   number of tool calls opened so far
#   finish  the finish_reason, once seen (usage may still follow)
#   usage   IR usage from the latest chunk that had one
#   done    [DONE] seen and the message closed;  failed  an error chunk seen

# A custom (freeform) tool call streams raw text; the IR wants the JSON text
# {"input": "<raw>"} (pitfall 23), so the opening `{"input":"` is sent when
# the block opens, each fragment JSON-escaped, and `"}` right before the
# block closes. `_seal` is that closing step; every path that may close the
# open block runs it first.
def _seal:
  if .s.open.custom then b::delta({arguments: "\"}"}) | setpath(["s", "open", "custom"]; false) else . end;

def _frag($f; $custom):
  if $f == null or $f == "" then .
  elif $custom then b::delta({arguments: ($f | tojson | .[1:-1])})
  else b::delta({arguments: $f}) end;

def _text($type; $t):
  if $t == null or $t == "" then .
  else (if .s.open.type != $type then _seal else . end) | b::text_delta($type; $t) end;

def _nonempty: if type == "string" and . != "" then . else null end;

def _start($ctx; $d):
  if .s.started then .
  else b::start_message({id: (($d.id | _nonempty) // ""), model: (($d.model | _nonempty) // $ctx.model)}
                        + (if ($d.created | type) == "number" and $d.created > 0 then {created: $d.created} else {} end))
  end;

# One tool_calls[] delta. Deltas are keyed by `index` (A.5 b): the first one
# of a call has id and name, the rest only argument fragments. A server that
# repeats id/name on every fragment is handled, as the open call is matched
# by index first.
def _tool($ctx; $tc):
  ($tc.index // $tc.id // 0) as $key
  | ($tc.type == "custom" or ($tc.custom | type) == "object") as $custom
  | ((if $custom then $tc.custom.input else $tc.function.arguments end) | _str) as $frag
  | if .s.open.type == "tool_call" and .s.open.key == $key then _frag($frag; $custom)
    elif $tc.id != null or ($tc.function.name // $tc.custom.name) != null then
      _seal
      | (.s.calls // 0) as $n
      | b::open_block({type: "tool_call",
                       id: (($tc.id | _str) // ids::invented_call_id($ctx; $n)),
                       name: (($tc.function.name // $tc.custom.name // "") | tostring),
                       kind: (if $custom then "custom" else "function" end)}; $key)
      | setpath(["s", "calls"]; $n + 1)
      | (if $custom then setpath(["s", "open", "custom"]; true) | b::delta({arguments: "{\"input\":\""}) else . end)
      | _frag($frag; $custom)
    else
      # a fragment for a call that is no longer the open one: Chat servers
      # stream calls one after another (A.5 b); an interleaved fragment
      # cannot be placed in the IR's one-block-at-a-time order and is dropped
      .
    end;

def _chunk($ctx; $d):
  # n > 1: only choice 0 is followed (the IR has one answer)
  ([($d.choices // [])[]? | select((.index // 0) == 0)] | .[0]) as $ch
  # Azure opens with a chunk that has no choices, no usage and an empty id
  # (prompt_filter_results only): nothing to take from it, not even the id
  | if $ch == null and ($d.usage | type) != "object" then .
    else _start($ctx; $d) end
  | if $ch == null then .
    else
      ($ch.delta // {}) as $dl
      # reasoning extensions (A.5 c): reasoning_content, or OpenRouter's reasoning
      | _text("reasoning"; ($dl.reasoning_content | _str) // ($dl.reasoning | _str))
      | _text("text"; $dl.content | _str)
      | _text("refusal"; $dl.refusal | _str)
      | reduce (($dl.tool_calls // []) | if type == "array" then .[] else empty end) as $tc (.; _tool($ctx; $tc))
      # deprecated function_call deltas: one call, no id
      | (if ($dl.function_call | type) == "object" then _tool($ctx; {index: "function_call", function: $dl.function_call}) else . end)
      | (if $ch.finish_reason != null then setpath(["s", "finish"]; $ch.finish_reason) else . end)
    end
  # the usage chunk (choices: [], A.5 a); some servers put usage on other
  # chunks too: the latest wins
  | (if ($d.usage | type) == "object" then setpath(["s", "usage"]; ($d.usage | c::usage_to_ir)) else . end);

def _end($ctx):
  _seal
  | _start($ctx; {})
  | ((.s.calls // 0) > 0) as $calls
  | b::finish((.s.finish | c::stop_to_ir($calls)); .s.usage)
  | b::stop_message
  | setpath(["s", "done"]; true);

def _event($ctx; $e):
  $e.data as $d
  | if $d == "[DONE]" then _end($ctx)
    elif ($d | type) != "object" then .  # not JSON: nothing to take from it
    # mid-stream error (A.5): the SDK raises on a chunk with an `error` key
    elif $d.error != null then b::emit({type: "error", error: c::error_to_ir(null; $d)}) | setpath(["s", "failed"]; true)
    else _chunk($ctx; $d) end;

def decode($ctx):
  b::run(
    reduce .events[] as $e (.; if .s.done or .s.failed then . else _event($ctx; $e) end)
    | if .final and ((.s.done or .s.failed) | not) then
        if .s.finish != null then
          # a finish_reason came but no [DONE]: some compatible servers end
          # the stream that way, and the answer is complete
          _end($ctx)
        else
          # pitfall 52: EOF without a terminator is an error, never a success
          b::emit({type: "error", error: {status: 502, type: "server",
                                          message: "upstream stream ended before it finished (no finish_reason, no [DONE])"}})
          | setpath(["s", "failed"]; true)
        end
      else . end);

# ================================================================== encode
#
# Encoder state `.s`: role (first chunk sent), model, tools (tool-call
# counter, pitfall 21), blocks (open IR blocks by index: what they are),
# stop, usage, closed.

def _usage_wanted($ctx): ($ctx.request.stream_options.include_usage? // false) == true;

# One chat.completion.chunk. All chunks share id, created and model (A.5).
# `usage: null` is on every chunk only when the client asked for usage, as
# OpenAI does.
def _emit($ctx; $delta; $finish):
  .out += [{event: null,
            data: ({id: "chatcmpl-\($ctx.request_id)", object: "chat.completion.chunk",
                    created: $ctx.created, model: (.s.model // $ctx.model),
                    choices: [{index: 0, delta: $delta, logprobs: null, finish_reason: $finish}]}
                   + (if _usage_wanted($ctx) then {usage: null} else {} end))}];

# The first chunk: role and an empty content, sent once (the SDK concatenates
# repeated strings, A.5 b).
def _role($ctx):
  if .s.role then . else setpath(["s", "role"]; true) | _emit($ctx; {role: "assistant", content: ""}; null) end;

def _call_delta($n; $body): {tool_calls: [{index: $n} + $body]};

def _enc($ctx; $e):
  if $e.type == "message_start" then
    setpath(["s", "model"]; ($e.model // null)) | _role($ctx)
  elif $e.type == "block_start" then
    _role($ctx)
    | ($e.block // {}) as $blk
    | if $blk.type == "tool_call" then
        (.s.tools // 0) as $n
        | setpath(["s", "tools"]; $n + 1)
        | .s.blocks[$e.index | tostring] = {type: "tool_call", n: $n, id: $blk.id, name: $blk.name,
                                             kind: ($blk.kind // "function"), buf: ""}
        | if $blk.kind == "custom" then .  # sent whole at block_stop, below
          else _emit($ctx; _call_delta($n; {id: $blk.id, type: "function", function: {name: $blk.name, arguments: ""}}); null) end
      else .s.blocks[$e.index | tostring] = {type: $blk.type} end
  elif $e.type == "block_delta" then
    .s.blocks[$e.index | tostring] as $blk
    | if $e.text != null then
        if $e.text == "" then .
        elif $blk.type == "reasoning" then _emit($ctx; {reasoning_content: $e.text}; null)  # extension, pitfall 49
        elif $blk.type == "refusal" then _emit($ctx; {refusal: $e.text}; null)
        else _emit($ctx; {content: $e.text}; null) end
      elif $e.arguments != null and $blk.type == "tool_call" then
        if $blk.kind == "custom" then .s.blocks[$e.index | tostring].buf += $e.arguments
        elif $e.arguments == "" then .
        else _emit($ctx; _call_delta($blk.n; {function: {arguments: $e.arguments}}); null) end
      else . end  # signatures: Chat has no carrier (pitfall 45)
  elif $e.type == "block_stop" then
    .s.blocks[$e.index | tostring] as $blk
    | (if $blk.type == "tool_call" and $blk.kind == "custom" then
         # A custom call's input is raw text, but the IR streams it inside
         # {"input": …} JSON; how Chat streams custom calls is undocumented
         # (ambiguous), so the whole call goes in one delta.
         ($blk.buf | try fromjson catch null) as $a
         | _emit($ctx; _call_delta($blk.n; {id: $blk.id, type: "custom",
                   custom: {name: $blk.name, input: (if ($a | type) == "object" and ($a.input | type) == "string" then $a.input else $blk.buf end)}}); null)
       else . end)
    | setpath(["s", "blocks"]; .s.blocks | del(.[$e.index | tostring]))
  elif $e.type == "message_delta" then
    (if $e.stop != null then setpath(["s", "stop"]; $e.stop) else . end)
    | (if $e.usage != null then setpath(["s", "usage"]; $e.usage) else . end)
  elif $e.type == "message_stop" then
    _role($ctx)
    | ((.s.tools // 0) > 0) as $calls
    | _emit($ctx; {}; ((.s.stop // {}) | c::finish_from_ir($calls)))
    # pitfall 56: the usage chunk (choices: []) only for a client that asked
    | (if _usage_wanted($ctx) then
         setpath(["out"]; .out + ([{event: null,
                   data: {id: "chatcmpl-\($ctx.request_id)", object: "chat.completion.chunk",
                          created: $ctx.created, model: (.s.model // $ctx.model),
                          choices: [], usage: (.s.usage | c::usage_from_ir)}}]))
       else . end)
    | setpath(["out"]; .out + ([{event: null, data: "[DONE]"}]))
    | setpath(["s", "closed"]; true)
  elif $e.type == "error" then
    # A.5: a `{"error": …}` chunk, then the stream closes. No [DONE] after
    # it (E.6 makes it optional): the SDK raises on the error chunk anyway,
    # and [DONE] would read as a clean end to simpler clients.
    setpath(["out"]; .out + ([{event: null, data: {error: ($e.error // {} | c::error_object)}}]))
    | setpath(["s", "closed"]; true)
  else . end;

def encode($ctx):
  .events as $events
  | {s: (.state // {}), out: [], final: .final}
  | reduce $events[] as $e (.; if .s.closed then . else _enc($ctx; $e) end)
  | (if .final and .s.role and (.s.closed | not) then
       # the decoder promises message_stop or error; should neither come,
       # the client must not mistake the cut for a complete answer (pitfall 52)
       setpath(["out"]; .out + ([{event: null, data: {error: ({type: "server", message: "upstream stream ended unexpectedly"} | c::error_object)}}]))
       | setpath(["s", "closed"]; true)
     else . end)
  | {state: .s, out};
