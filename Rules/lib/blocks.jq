# Building blocks for stream decoders.
#
# A decoder must emit IR events in a strict order (README, "Stream events"):
# message_start first, one block open at a time, indices 0, 1, 2, ... in order,
# message_stop last. Upstreams do not all work that way (Chat interleaves text
# and tool deltas, Gemini sends whole parts, Responses numbers output items),
# so every decoder drives this small machine instead of counting by hand.
#
# The machine is `{s, out}`: `s` is the decoder's state (these helpers own
# `s.started`, `s.open` and `s.next`; a decoder may keep anything else in `s`),
# `out` the IR events emitted so far in this call.
#
# Speed: these run for every upstream event. In jq 1.6 an assignment such as
# `.s.open = $x` or `.out += [$e]` goes through path tracking and costs about
# three times a plain `setpath` (measured with callgrind: ~19k vs ~7k
# instructions), so the hot paths here use setpath/getpath directly.

def emit($e): setpath(["out", (.out | length)]; $e);

def start_message($e):
  if .s.started then . else setpath(["s", "started"]; true) | emit({type: "message_start"} + $e) end;

def close_block:
  if .s.open != null then emit({type: "block_stop", index: .s.open.index}) | setpath(["s", "open"]; null) else . end;

# Open a new block; `$key` lets a decoder recognise its own block later
# (e.g. the upstream's tool-call index).
def open_block($block; $key):
  close_block
  | (.s.next // 0) as $i
  | emit({type: "block_start", index: $i, block: $block})
  | setpath(["s", "open"]; {index: $i, type: $block.type, key: $key})
  | setpath(["s", "next"]; $i + 1);

def delta($d): emit({type: "block_delta", index: .s.open.index} + $d);

# Text-like delta (text, reasoning, refusal): continues the open block of the
# same type, or opens a new one.
def text_delta($type; $text):
  if $text == "" or $text == null then .
  else (if .s.open.type == $type then . else open_block({type: $type}; null) end) | delta({text: $text}) end;

def finish($stop; $usage):
  close_block
  | emit({type: "message_delta"} + (if $stop then {stop: $stop} else {} end) + (if $usage then {usage: $usage} else {} end));

def stop_message:
  if .s.stopped then . else close_block | emit({type: "message_stop"}) | setpath(["s", "stopped"]; true) end;

# Wrap a decoder step: `{state, events, final}` in, `{state, out}` back.
def run(step):
  {s: (.state // {}), out: [], final: .final, events: .events} | step | {state: .s, out: .out};
