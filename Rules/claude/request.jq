# Anthropic Messages requests (POST /v1/messages, section C.1-C.4).
#   decode($ctx)       client body -> IR request
#   encode($ctx)       IR request  -> body for an Anthropic upstream
#   passthrough($ctx)  Claude body -> Claude body (model name only)

import "lib/json" as json;
import "lib/ids" as ids;
import "lib/effort" as eff;
import "claude/parts" as p;

# ================================================================ decode

def _known_top: ["model", "max_tokens", "messages", "system", "stream", "temperature", "top_p", "top_k",
  "stop_sequences", "tools", "tool_choice", "thinking", "output_config", "output_format", "metadata"];

# `system`: string or text blocks; cache_control stays on each part as
# ext.claude so that Claude -> Claude keeps the breakpoints (pitfall 1).
def _system:
  if . == null then []
  elif type == "string" then (if . == "" then [] else [{type: "text", text: .}] end)
  elif type == "array" then
    [range(length) as $k | .[$k]
     | if .type != "text" then error("system[\($k)].type: must be \"text\"") else . end
     | p::block_part("system[\($k)]")]
  else error("system: must be a string or an array of text blocks") end;

# One Claude message -> one or two IR messages. The tool_result blocks of a
# user turn become an IR `tool` message placed before the rest of the turn
# (README: role tool holds only tool_result parts; Claude puts results first,
# pitfall 13). A `system` role message (accepted by the 2026 API, C.1) is a
# mid-conversation system message (pitfall 2).
def _message($i):
  # paths for error messages are closures, built only when an error is raised
  def path: "messages[\($i)]";
  if type != "object" then error("\(path): must be an object") else . end
  | .role as $role
  | if ($role == "user" or $role == "assistant" or $role == "system") | not
    then error("\(path).role: must be \"user\" or \"assistant\"") else . end
  | (.content | p::content_parts("\(path).content")) as $parts
  | if $role == "user" then
      ($parts | map(select(.type == "tool_result"))) as $results
      | ($parts | map(select(.type != "tool_result") | p::user_safe)) as $rest
      | (if ($results | length) > 0 then {role: "tool", parts: $results} else empty end),
        (if ($rest | length) > 0 or ($results | length) == 0 then {role: "user", parts: $rest} else empty end)
    elif $role == "assistant" then
      # blocks a user turn holds (images, tool results) cannot be said by the assistant
      {role: "assistant", parts: ($parts | map(select(.type == "text" or .type == "reasoning" or .type == "tool_call" or .type == "opaque")) | p::place_carriers)}
    else {role: "system", parts: ($parts | map(select(.type == "text")))} end;

def _tool($i):
  if type != "object" then error("tools[\($i)]: must be an object")
  # versioned server/client tools (web_search_20250305, bash_20250124, ...):
  # hosted, replayed only to Claude (pitfall 25)
  elif (.type // "custom") != "custom" then {name: (.name // .type), kind: "hosted", hosted: {dialect: "claude", value: .}}
  elif (.name | type) != "string" then error("tools[\($i)].name: field required")
  elif (.input_schema | type) != "object" then error("tools[\($i)].input_schema: field required")
  else {name: .name}
    + (if (.description | type) == "string" then {description: .description} else {} end)
    + {schema: .input_schema}
    + (if (.strict | type) == "boolean" then {strict: .strict} else {} end)
    + {kind: "function"}
    + p::ext_rest(["name", "description", "input_schema", "strict"])
  end;

# tool_choice (table E.2); disable_parallel_tool_use is the inverted
# parallel_tool_calls (pitfall 18).
def _tool_choice:
  if . == null then {}
  elif type != "object" then error("tool_choice: must be an object")
  else
    (if .type == "auto" then {mode: "auto"}
     elif .type == "any" then {mode: "required"}
     elif .type == "none" then {mode: "none"}
     elif .type == "tool" then
       (if (.name | type) != "string" then error("tool_choice.name: field required") else {mode: "tool", name: .name} end)
     else error("tool_choice.type: must be one of auto, any, tool, none") end) as $tc
    | {tool_choice: $tc} + (if .disable_parallel_tool_use == true then {parallel_tool_calls: false} else {} end)
  end;

# thinking + output_config.effort -> IR reasoning (table E.5).
#   enabled{budget_tokens} -> budget; adaptive -> adaptive; disabled -> budget 0
#   display: summarized/omitted -> include_thoughts true/false
#   between_tools (SDK-new, semantics undocumented, ambiguous): no IR
#   equivalent, kept whole in ext.claude.thinking only.
def _reasoning($oc):
  (if . == null then null
   elif type != "object" then error("thinking: must be an object")
   elif .type == "enabled" then
     (if (.budget_tokens | type) != "number" then error("thinking.budget_tokens: field required") else {budget: .budget_tokens} end)
   elif .type == "adaptive" then {adaptive: true}
   elif .type == "disabled" then {budget: 0}
   else null end) as $r
  | (if $r != null and .display == "omitted" then $r + {include_thoughts: false}
     elif $r != null and .display == "summarized" then $r + {include_thoughts: true}
     else $r end)
  | if ($oc.effort | type) == "string" then (. // {}) + {effort: $oc.effort} else . end;

def _thinking_ext:
  if . == null or type != "object" then {}
  elif (.type == "enabled" or .type == "adaptive" or .type == "disabled") then
    (del(.type, .budget_tokens) | if length > 0 then {thinking: .} else {} end)
  else {thinking: .} end;

# output_config.format / legacy top-level output_format (C.4) -> response_format (pitfall 29).
def _response_format:
  if (. | type) != "object" then {}
  elif .type == "json_schema" then {response_format: ({type: "json_schema"} + (if .schema then {schema: .schema} else {} end))}
  else {} end;

def decode($ctx):
  if type != "object" then error("body: must be a JSON object") else . end
  | if (.model | type) != "string" then error("model: field required") else . end
  # max_tokens is required by the Messages API (C.1); same wording as Anthropic's 400
  | if .max_tokens == null then error("max_tokens: field required")
    elif (.max_tokens | type) != "number" then error("max_tokens: must be an integer") else . end
  | if .messages == null then error("messages: field required")
    elif (.messages | type) != "array" then error("messages: must be an array") else . end
  | (.output_config // {}) as $oc
  | (.system | _system) as $system
  | ((.tools // []) | if type != "array" then error("tools: must be an array") else . end) as $tools
  | (.thinking | _reasoning($oc)) as $reasoning
  # dialect-only fields: unknown top-level fields, the unmapped parts of
  # thinking / output_config / metadata
  | (del(.[_known_top[]])
     + (.thinking | _thinking_ext)
     + ($oc | if type == "object" then del(.format) else {} end | if length > 0 then {output_config: .} else {} end)
     + (.metadata | if type == "object" then del(.user_id) else {} end | if length > 0 then {metadata: .} else {} end)
    ) as $ext
  | {model: .model, stream: (.stream == true)}
    + (if ($system | length) > 0 then {system: $system} else {} end)
    + {messages: [.messages | range(length) as $i | .[$i] | _message($i)]}
    + (if ($tools | length) > 0 then {tools: [$tools | range(length) as $i | .[$i] | _tool($i)]} else {} end)
    + (.tool_choice | _tool_choice)
    + {max_tokens: .max_tokens}
    + (if (.temperature | type) == "number" then {temperature: .temperature} else {} end)
    + (if (.top_p | type) == "number" then {top_p: .top_p} else {} end)
    + (if (.top_k | type) == "number" then {top_k: .top_k} else {} end)
    + (if (.stop_sequences | type) == "array" and (.stop_sequences | length) > 0 then {stop: .stop_sequences} else {} end)
    + (if $reasoning != null then {reasoning: $reasoning} else {} end)
    + (($oc.format // .output_format) | _response_format)
    # pitfall 42: metadata.user_id is the end-user id
    + (if (.metadata.user_id | type) == "string" then {user: .metadata.user_id} else {} end)
    + (if ($ext | length) > 0 then {ext: {claude: $ext}} else {} end);

# ================================================================ encode

# max_tokens when the client gave none (pitfall 36, ambiguous): 8192, a cap
# every current Claude model accepts; the model maximum would differ per model.
def _default_max_tokens: 8192;

# Room for the answer above a thinking budget, when the cap must be raised
# (C.4: budget_tokens < max_tokens; pitfall 37: the client's cap was meant
# for the answer, or for answer + reasoning, never for thinking alone).
def _answer_room: 4096;

# The text of a json_object request (pitfall 30; Claude has no JSON mode).
def _json_instruction: "Respond with a single JSON object only, with no text before or after it.";

# --- tools

# Schema root must be an object (pitfall 28): schemas without a type get
# "type":"object", other roots are wrapped as {"value": <schema>}.
# (Ambiguous: a wrapped tool's input comes back as {"value": …}; the IR's
# arguments are an object anyway, so nothing unwraps it.)
def _object_schema:
  if type != "object" then {type: "object", properties: {}}
  elif .type == "object" then .
  elif .type == null and (has("anyOf") or has("oneOf") or has("allOf") or has("$ref") | not) then {type: "object"} + (if has("properties") then . else . + {properties: {}} end)
  else {type: "object", properties: {value: .}, required: ["value"]} end;

def _grammar_note:
  if (.format | type) == "object" and (.format.definition | type) == "string"
  then "\n\nThe input must match this \(.format.syntax // "grammar") grammar:\n\(.format.definition)" else "" end;

def _tool_def:
  if .kind == "hosted" then
    # pitfall 25: hosted tools only go back to their own dialect
    (if .hosted.dialect == "claude" then .hosted.value else empty end)
  elif .kind == "custom" then
    # pitfall 23: a freeform tool becomes a function of one string; the
    # grammar can only be described, not enforced
    {name: .name}
    + (if (.description | type) == "string" then {description: .description} else {} end)
    + {input_schema: {type: "object",
        properties: {input: {type: "string", description: ("The raw input of the tool." + _grammar_note)}},
        required: ["input"]}}
  elif .kind == "local_shell" then
    # pitfall 24: Codex's local_shell as a function with its action fields
    {name: .name,
     description: (.description // "Runs a shell command and returns its output."),
     input_schema: {type: "object",
       properties: {command: {type: "array", items: {type: "string"}}, workdir: {type: "string"}, timeout_ms: {type: "integer"}},
       required: ["command"]}}
  else
    {name: .name}
    + (if (.description | type) == "string" then {description: .description} else {} end)
    # pitfall 20: parameterless tools still need an object schema
    + {input_schema: (.schema | _object_schema)}
    + (if .strict == true then {strict: true} else {} end)
    + p::claude_ext
  end;

# --- messages

# IR part -> Claude blocks of a request message.
def _part_blocks(path):
  if .type == "text" then p::text_block
  elif .type == "refusal" then {type: "text", text: .text} | p::text_block
  elif .type == "image" or .type == "file" then p::media_block
  elif .type == "audio" then error("\(path): audio input is not supported by Anthropic models") # pitfall 35
  elif .type == "tool_call" then p::tool_use_block
  elif .type == "reasoning" then p::thinking_block
  elif .type == "opaque" then (if .dialect == "claude" then .value else empty end)
  elif .type == "tool_result" then
    [(.content // [])[]
     | if .type == "text" then p::text_block
       elif .type == "image" or .type == "file" then p::media_block
       elif .type == "opaque" and .dialect == "claude" then .value
       else empty end] as $content
    | {type: "tool_result", tool_use_id: (.id | ids::safe_id)}
      # one plain text: the string form, as clients usually send it
      + (if ($content | length) == 1 and ($content[0] | keys) == ["text", "type"] then {content: $content[0].text}
         elif ($content | length) > 0 then {content: $content} else {} end)
      + (if .is_error == true then {is_error: true} else {} end)
      + p::claude_ext
  else empty end;

def _reminder:
  [.parts[] | select(.type == "text") | .text] | join("\n\n")
  | if length > 0 then "<system-reminder>\n\(.)\n</system-reminder>" else empty end;

# IR messages -> Claude turns, not yet merged.
def _turns:
  [range(length) as $i | .[$i]
   | if .role == "system" then
       # pitfall 2: no system slot mid-conversation; keep its place as a
       # marked user text instead of hoisting it
       {role: "user", content: [_reminder | {type: "text", text: .}]}
     elif .role == "assistant" then {role: "assistant", content: [.parts | range(length) as $j | .[$j] | _part_blocks("messages[\($i)].parts[\($j)]")]}
     else {role: "user", content: [.parts | range(length) as $j | .[$j] | _part_blocks("messages[\($i)].parts[\($j)]")]} end
   # pitfall 7: messages left empty are dropped
   | select(.content | length > 0)];

# pitfall 5: Anthropic wants alternating turns; concatenate the blocks of
# consecutive same-role messages (blocks, not strings, so tools keep order).
def _merge:
  reduce .[] as $t ([]; if length > 0 and .[-1].role == $t.role then .[-1].content += $t.content else . + [$t] end);

def _cancelled($id): {type: "tool_result", tool_use_id: $id, content: "Tool call was cancelled.", is_error: true};

# A tool_result that answers no tool_use of the turn before it would be
# rejected; keep what it said as text (ambiguous: dropping it loses the text).
def _orphan:
  .tool_use_id as $id
  | (.content // []) as $c
  | ([$c | if type == "string" then . else (.[] | select(.type == "text") | .text) end] | join("\n")) as $text
  | {type: "text", text: "[tool result \($id // "")]\n\(if $text == "" then "(empty)" else $text end)"},
    ($c | if type == "array" then .[] | select(.type != "text") else empty end);

# A user turn right after an assistant turn that called $ids: its results
# first (pitfall 13, "tool_result blocks before any text"), a cancelled
# result for every call the client did not answer, orphans as text.
def _answer($ids):
  map(select(.type == "tool_result")) as $res
  | ($res | map(select(.tool_use_id | IN($ids[])))) as $mine
  | ($mine | map(.tool_use_id)) as $got
  | $mine
    + [$ids[] | select(IN($got[]) | not) | _cancelled(.)]
    + [$res[] | select(.tool_use_id | IN($ids[]) | not) | _orphan]
    + map(select(.type != "tool_result"));

# pitfall 13: every tool_use must be answered in the immediately following
# user message; a user turn is inserted when the next turn is not one.
def _pair:
  reduce (.[], null) as $t ({out: [], ids: []};
    if $t != null and $t.role == "user" then
      .ids as $ids | setpath(["out"]; .out + ([$t | .content |= _answer($ids)])) | setpath(["ids"]; [])
    else
      (if (.ids | length) > 0 then setpath(["out"]; .out + ([{role: "user", content: [.ids[] | _cancelled(.)]}])) else . end)
      | setpath(["ids"]; [])
      | if $t == null then .
        else setpath(["out"]; .out + ([$t | .content |= (map(select(.type == "thinking" or .type == "redacted_thinking"))
                                         + map(select((.type == "thinking" or .type == "redacted_thinking") | not)))]))
          # C.4: thinking blocks lead their assistant message
          | setpath(["ids"]; [$t.content[] | select(.type == "tool_use") | .id]) end
    end)
  | .out;

# pitfall 6: the first message must be a user turn; C.1: a final assistant
# message (prefill) must not end with whitespace.
def _edges:
  (if length == 0 or .[0].role != "user" then [{role: "user", content: [{type: "text", text: "."}]}] + . else . end)
  | if .[-1].role == "assistant" and .[-1].content[-1].type == "text" then
      (.[-1].content[-1].text |= sub("\\s+$"; ""))
      | if .[-1].content[-1].text == "" then .[-1].content |= .[:-1] else . end
      | if (.[-1].content | length) == 0 then .[:-1] else . end
    else . end;

def _messages: _turns | _merge | _pair | _edges;

# --- reasoning

# IR reasoning -> {budget} (0 = off, null = adaptive or no thinking asked).
def _budget:
  if . == null then null
  elif .budget != null and .budget > 0 then ([.budget, 1024] | max)   # C.4: budget >= 1024
  elif .budget == 0 then 0
  elif (.effort | type) == "string" then (.effort | eff::budget_for_effort("claude"))
  # -1 = dynamic, or thoughts asked for without a size: medium (E.5)
  elif .budget == -1 or .include_thoughts == true or .summary != null then ("medium" | eff::budget_for_effort("claude"))
  else null end;

# output_config.effort accepts low|medium|high|xhigh|max (C.1).
def _claude_effort:
  if . == "minimal" then "low"
  elif . == "low" or . == "medium" or . == "high" or . == "xhigh" or . == "max" then .
  else null end;

def encode($ctx):
  . as $ir
  | (.ext.claude // {}) as $x
  | (.reasoning // null) as $r
  | ((.messages // []) | _messages) as $msgs
  # --- tools: names restrict the set (E.2 "filter tools")
  | (.tool_choice // null) as $tc
  | [(.tools // [])[] | select($tc.names == null or .kind == "hosted" or (.name | IN($tc.names[]))) | _tool_def] as $tools0
  # "Requests which include tool_use or tool_result blocks must define
  # tools": history with calls but no tools gets placeholder definitions and
  # tool_choice none (the client offered no tools for this turn).
  | ([$msgs[].content[] | select(.type == "tool_use") | .name] | unique) as $used
  | (if ($tools0 | length) == 0 and ($used | length) > 0
     then [$used[] | {name: ., input_schema: {type: "object", properties: {}}}] else $tools0 end) as $tools
  | (if ($tools0 | length) == 0 and ($used | length) > 0 then {mode: "none"} else $tc end) as $tc
  | (($tools | length) > 0 and ($tc.mode == "required" or $tc.mode == "tool")) as $forced
  # --- thinking
  | ($r | _budget) as $budget
  | (($r.adaptive == true and $r.effort != "none") or ($budget != null and $budget > 0)) as $wants
  | ([$msgs[] | select(.role == "assistant")] | last) as $last_assistant
  | ($last_assistant != null and any($last_assistant.content[]; .type == "tool_use")
     and (($last_assistant.content[0].type == "thinking" or $last_assistant.content[0].type == "redacted_thinking") | not)) as $lost
  | ($wants
     # pitfall 19 (policy): a forced tool choice wins, thinking is dropped
     and ($forced | not)
     # pitfall 46: the running tool loop lost its thinking block (foreign or
     # missing signature): thinking off rather than a 400
     and ($lost | not)
     # C.4: no prefill while thinking
     and ($msgs[-1].role != "assistant")) as $thinking_on
  | (.max_tokens // _default_max_tokens) as $mt0
  | (if $thinking_on and $r.adaptive != true and $mt0 <= $budget then $budget + _answer_room else $mt0 end) as $max_tokens
  | (if ($x.thinking | type) == "object" and $x.thinking.type == null then $x.thinking else {} end) as $thinking_extra
  | (if $thinking_on and $r.adaptive == true then {type: "adaptive"} + $thinking_extra
     elif $thinking_on then {type: "enabled", budget_tokens: $budget} + $thinking_extra
     elif $budget == 0 or ($r.effort == "none") then {type: "disabled"}
     elif $r == null and ($x.thinking.type | type) == "string" then $x.thinking
     else null end) as $thinking
  # --- output_config: effort when the client said it on the wire or with
  # adaptive thinking (older models reject the field otherwise); format
  # from response_format (pitfall 29)
  | ($r.effort | if type == "string" then _claude_effort else null end) as $effort
  | (($x.output_config // {})
     + (if $effort != null and ($x.output_config.effort != null or ($thinking_on and $r.adaptive == true)) then {effort: $effort} else {} end)
     + (if .response_format.type == "json_schema" and (.response_format.schema | type) == "object"
        then {format: {type: "json_schema", schema: .response_format.schema}} else {} end)) as $oc
  | ((.response_format.type == "json_object") or (.response_format.type == "json_schema" and (.response_format.schema | type) != "object")) as $json_mode
  # --- system
  | ([(.system // [])[] | select(.type == "text") | p::text_block]
     + (if $json_mode then [{type: "text", text: _json_instruction}] else [] end)) as $system
  # --- sampling (pitfall 39): Claude temperature is 0..1; with thinking on
  # temperature and top_k must stay default and top_p within 0.95..1.
  # seed, presence/frequency_penalty and stream_usage have no Claude field
  # (pitfall 40; Claude always reports usage) and are dropped.
  | {model: $ctx.model, max_tokens: $max_tokens}
    + (if ($system | length) > 0 then {system: $system} else {} end)
    + {messages: $msgs}
    + (if ($tools | length) > 0 then {tools: $tools} else {} end)
    + (if ($tools | length) == 0 then {}
       else
         ({auto: {type: "auto"}, required: {type: "any"}, none: {type: "none"}}[$tc.mode // "-"]
          // (if $tc.mode == "tool" then {type: "tool", name: $tc.name} else null end)) as $choice
         # pitfall 18: inverted, inside tool_choice, not allowed on none
         | if $ir.parallel_tool_calls == false and ($choice.type // "auto") != "none"
           then {tool_choice: (($choice // {type: "auto"}) + {disable_parallel_tool_use: true})}
           elif $choice != null then {tool_choice: $choice}
           else {} end
       end)
    + (if $thinking != null then {thinking: $thinking} else {} end)
    + (if ($oc | length) > 0 then {output_config: $oc} else {} end)
    + (if (.temperature | type) == "number" and ($thinking_on | not) then {temperature: ([[.temperature, 0] | max, 1] | min)} else {} end)
    + (if (.top_p | type) == "number" and (($thinking_on | not) or .top_p >= 0.95) then {top_p: .top_p} else {} end)
    + (if (.top_k | type) == "number" and ($thinking_on | not) then {top_k: .top_k} else {} end)
    + ([(.stop // [])[] | select(type == "string" and . != "")] | if length > 0 then {stop_sequences: .} else {} end)
    + (if (.user | type) == "string" or $x.metadata != null
       then {metadata: (($x.metadata // {}) + (if (.user | type) == "string" then {user_id: .user} else {} end))} else {} end)
    + {stream: (.stream == true)}
    # pitfall 41: one answer per request
    + (if (.n // 1) > 1 then error("n: Anthropic models return a single answer; n must be 1") else {} end)
    + ($x | del(.thinking, .output_config, .metadata));

# ================================================================ passthrough

# A Claude client's history can hold carrier thinking blocks ("cpx1." signatures,
# README "Signature carriers") from an earlier turn served by another
# upstream; Anthropic would reject them ("Invalid signature"). Only then is
# the body translated (decode | encode drops them and, pitfall 46, turns
# thinking off if the running tool loop loses its block); otherwise only the
# model name changes.
def _has_carrier:
  any(.messages[]? | select(type == "object" and .role == "assistant") | .content | arrays | .[];
      type == "object" and .type == "thinking" and (.signature | p::is_carrier));

def passthrough($ctx):
  if (.messages | type) == "array" and _has_carrier then decode($ctx) | encode($ctx)
  else setpath(["model"]; $ctx.model) end;
