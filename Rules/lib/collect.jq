# Fold IR stream events into one IR response: how a non-stream client is
# served by an upstream that only streams (Codex), without any dialect knowing.

def _part($b):
  if $b.type == "tool_call" then {type: "tool_call", id: $b.id, name: $b.name, kind: ($b.kind // "function"), arguments: ""}
  elif $b.type == "reasoning" then {type: "reasoning", text: ""} + (if $b.redacted then {redacted: true} else {} end)
  else {type: $b.type, text: ""} end;

def _apply($e):
  if $e.text != null then setpath(["text"]; .text + ($e.text))
  elif $e.arguments != null then setpath(["arguments"]; .arguments + ($e.arguments))
  elif $e.signature != null then setpath(["signature"]; $e.signature)
  else . end;

# Input: an array of IR events. Output: an IR response, or {error: Error}
# when the stream carried an error event.
def collect:
  reduce .[] as $e ({parts: []};
    if $e.type == "message_start" then
      . + ($e | {id, model} | with_entries(select(.value != null)))
      + (if $e.created then {created: $e.created} else {} end)
      + (if $e.usage then {usage: $e.usage} else {} end)
    elif $e.type == "block_start" then .parts[$e.index] = _part($e.block)
    elif $e.type == "block_delta" then .parts[$e.index] |= _apply($e)
    elif $e.type == "message_delta" then
      (if $e.stop then setpath(["stop"]; $e.stop) else . end)
      | (if $e.usage then setpath(["usage"]; ((.usage // {}) + $e.usage)) else . end)
    elif $e.type == "error" then setpath(["error"]; $e.error)
    else . end)
  | if .error then {error: .error}
    else setpath(["parts"]; .parts | map(if .type == "tool_call" and .arguments == "" then .arguments = "{}" else . end))
      | .stop //= {reason: "end_turn"}
      | .usage //= {input: 0, output: 0}
    end;
