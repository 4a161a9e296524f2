# OpenAI Chat Completions non-stream responses (wire-formats.md A.4) <-> IR response.
import "lib/ids" as ids;
import "openai/common" as c;

def _str: if type == "string" then . else null end;

# message.tool_calls[] -> IR tool_call parts. A custom (freeform) call carries
# raw text, kept as {"input": <text>} (pitfall 23). An id the server left out
# is invented from $ctx (pitfall 11).
def calls_in($ctx):
  . as $tc
  | [range(0; $tc | length) as $i | $tc[$i]
     | if .type == "custom" or (.type == null and .custom != null) then
         {type: "tool_call", id: (.id // ids::invented_call_id($ctx; $i)), name: (.custom.name // ""),
          arguments: ({input: (.custom.input // "")} | tojson), kind: "custom"}
       else
         {type: "tool_call", id: (.id // ids::invented_call_id($ctx; $i)), name: (.function.name // ""),
          arguments: (.function.arguments | if type == "string" then . elif . == null then "{}" else tojson end),
          kind: "function"}
       end];

# IR tool_call part -> Chat tool call (A.2); local_shell travels as a function.
def call_out:
  if .kind == "custom" then
    (.arguments | try fromjson catch null) as $a
    | {id, type: "custom", custom: {name, input: (if ($a | type) == "object" and ($a.input | type) == "string" then $a.input else .arguments end)}}
  else {id, type: "function", function: {name, arguments: (.arguments // "{}")}} end;

# Content may be a string or, on some compatible servers, an array of parts.
def _content_parts:
  if type == "string" then (if . == "" then [] else [{type: "text", text: .}] end)
  elif type == "array" then [.[] | select(type == "object") | (.text // .content // null) | _str | select(. != "") | {type: "text", text: .}]
  else [] end;

def decode($ctx):
  if type != "object" then error("body: must be a JSON object") else . end
  | . as $b
  | (($b.choices // []) | if type == "array" then (map(select((.index // 0) == 0)) | .[0]) else null end // {}) as $choice
  # n > 1: only the first choice reaches the IR (it has one answer)
  | ($choice.message // {}) as $m
  # de-facto reasoning extensions (A.5 c): reasoning_content (DeepSeek, vLLM,
  # xAI) or reasoning (OpenRouter); no signature (pitfall 49)
  | (($m.reasoning_content | _str) // ($m.reasoning | _str) // "") as $rs
  | (($m.tool_calls // []) | if type == "array" then calls_in($ctx) else [] end) as $calls
  | (if ($m.function_call | type) == "object" then
       [{type: "tool_call", id: ids::invented_call_id($ctx; $calls | length), name: ($m.function_call.name // ""),
         arguments: ($m.function_call.arguments // "{}"), kind: "function"}]
     else [] end) as $legacy
  | (($m.refusal | _str) // "") as $refusal
  | {id: ($b.id // ""), model: ($b.model // $ctx.model)}
  | c::put("created"; ($b.created | if type == "number" then . else null end))
  # README order: reasoning, text, tool_call, refusal
  | setpath(["parts"]; ((if $rs != "" then [{type: "reasoning", text: $rs}] else [] end)
              + ($m.content | _content_parts)
              + $calls + $legacy
              + (if $refusal != "" then [{type: "refusal", text: $refusal}] else [] end)))
  | setpath(["stop"]; ($choice.finish_reason | c::stop_to_ir(($calls + $legacy) != [])))
  | setpath(["usage"]; (($b.usage | c::usage_to_ir) // {input: 0, output: 0}));

# IR response -> chat.completion (A.4), shaped as openai-python's
# ChatCompletion. Ids and time come from $ctx (pitfall 11).
def encode($ctx):
  . as $r
  | [$r.parts[]? | select(.type == "tool_call")] as $calls
  | ([$r.parts[]? | select(.type == "text") | .text] | join("")) as $text
  # reasoning text goes in message.reasoning_content, the de-facto extension
  # most Chat clients that show reasoning read (A.5 c, pitfall 49); others
  # ignore it. Signatures and redacted blocks have no Chat carrier (pitfall 45).
  | ([$r.parts[]? | select(.type == "reasoning" and (.redacted | not)) | .text // ""] | join("")) as $rs
  | ([$r.parts[]? | select(.type == "refusal") | .text] | join("")) as $refusal
  | {id: "chatcmpl-\($ctx.request_id)",
     object: "chat.completion",
     created: $ctx.created,
     model: ($r.model // $ctx.model),
     choices: [{index: 0,
                message: ({role: "assistant", content: (if $text == "" then null else $text end)}  # pitfall 7
                          + (if $rs != "" then {reasoning_content: $rs} else {} end)
                          + {refusal: (if $refusal == "" then null else $refusal end), annotations: []}
                          + (if $calls != [] then {tool_calls: [$calls[] | call_out]} else {} end)),
                logprobs: null,
                finish_reason: (($r.stop // {}) | c::finish_from_ir($calls != []))}],
     usage: ($r.usage | c::usage_from_ir)};
