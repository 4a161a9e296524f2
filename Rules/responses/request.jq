# OpenAI Responses requests (POST /v1/responses; the Codex CLI profile, B.5)
# <-> IR requests.

import "lib/json" as j;
import "lib/effort" as eff;
import "lib/ids" as ids;
import "responses/parts" as p;

def _nonnull: with_entries(select(.value != null));

# ================================================================ decode

# Top-level fields with an IR home, or deliberately not kept:
# `store` is always false on the way out (stateless proxy, B.3), so it is not
# kept; `previous_response_id`/`conversation` are refused (pitfall 10).
def _known: ["model", "input", "instructions", "stream", "tools", "tool_choice", "parallel_tool_calls",
  "max_output_tokens", "temperature", "top_p", "reasoning", "text", "include", "store",
  "previous_response_id", "conversation", "safety_identifier", "user"];

# input: a string is one user message (pitfall 10); items without `type` but
# with `role` are the easy message form (B.2).
def _items:
  if type == "string" then [{type: "message", role: "user", content: .}]
  elif type == "array" then map(if type == "object" and .type == null and .role != null then . + {type: "message"} else . end)
  elif . == null then []
  else error("input: expected a string or an array of items") end;

def _tool_in($at):
  if type != "object" then error("\($at): expected an object")
  elif .type == "function" then
    (if (.name | type) != "string" or .name == "" then error("\($at).name: field required") else . end)
    | {name, kind: "function"}
      + (if .description then {description} else {} end)
      + (if (.parameters | type) == "object" then {schema: .parameters} else {} end)
      # pitfall 27: only a known-strict tool is strict; Responses gets `strict`
      # explicitly on the way out (false otherwise), so false and absent are one
      + (if .strict == true then {strict: true} else {} end)
  elif .type == "custom" then
    (if (.name | type) != "string" or .name == "" then error("\($at).name: field required") else . end)
    # pitfall 23: the format (text, or the flat Lark/regex grammar of B.4) is kept as sent
    | {name, kind: "custom"} + (if .description then {description} else {} end) + (if .format then {format} else {} end)
  elif .type == "local_shell" then
    # pitfall 24: other dialects declare this function for it
    {name: "local_shell", kind: "local_shell",
     description: "Runs a shell command on the user's machine and returns its output.",
     schema: {type: "object", properties: {command: {type: "array", items: {type: "string"}},
       workdir: {type: "string"}, timeout_ms: {type: "integer"}}, required: ["command"]}}
  else
    # pitfall 25: hosted tools (web_search, file_search, mcp, ...) only replay to Responses
    {name: (.name // .server_label // .type // "hosted"), kind: "hosted", hosted: {dialect: "responses", value: .}}
  end;

def _tool_choice_in:
  if . == "auto" or . == "none" or . == "required" then {mode: .}
  elif type == "object" and (.type == "function" or .type == "custom") and (.name | type) == "string" then {mode: "tool", name}
  elif type == "object" and .type == "allowed_tools" then
    {mode: (if .mode == "required" then "required" else "auto" end), names: [.tools[]? | .name // .type // empty]}
  elif type == "object" and .type == "mcp" and (.server_label | type) == "string" then {mode: "tool", name: .server_label}
  elif type == "object" and (.type | type) == "string" then
    # a hosted tool choice: the IR names hosted tools by their type (see _tool_in)
    {mode: "tool", name: .type}
  elif . == null then null
  else error("tool_choice: unsupported value") end;

def _format_in:
  if .type == "json_schema" then {type, name, schema, strict, description} | _nonnull
  elif .type == "json_object" or .type == "text" then {type}
  else error("text.format.type: expected text, json_object or json_schema") end;

# Fold the items into IR messages. Consecutive non-user items (reasoning,
# assistant messages, calls, hosted items) are one assistant turn (pitfall 9);
# system/developer messages before anything else are the system prompt
# (pitfall 1, 3), later ones stay in place as role system (pitfall 2).
def _flush:
  if .asst != null and (.asst | length) > 0 then setpath(["msgs"]; .msgs + ([{role: "assistant", parts: .asst}])) else . end | setpath(["asst"]; null);

def _push_asst($parts): .asst = ((.asst // []) + $parts);

# A signature carried for a tool_call or text part (pitfall 45) goes back on
# the part it came from; our encoders put the carrier right after it. When
# that part cannot be found, the carrier stays a reasoning part with the
# signature (README: the next encoder may hand it over).
def _attach($c):
  (.asst // []) as $a
  | (if $c.type == "tool_call" then [$a | to_entries[] | select(.value.type == "tool_call" and .value.id == $c.id and .value.signature == null) | .key] | last
     else [$a | to_entries[] | select(.value.type == "text" and .value.signature == null) | .key] | last end) as $k
  | if $k != null then setpath(["asst", $k, "signature"]; $c.signature)
    else _push_asst([{type: "reasoning", text: "", signature: $c.signature}]) end;

def _item($i):
  "input[\($i)]" as $at
  | . as $st | $st.item as $it
  | if ($it | type) != "object" then error("\($at): expected an object") else . end
  | ($it.type) as $t
  | if $t == "message" then
      (if ($it.role | type) != "string" then error("\($at).role: field required") else . end)
      | ($it.content | if . == null then error("\($at).content: field required") else p::content_in("\($at).content") end) as $parts
      | if $it.role == "user" then _flush | setpath(["msgs"]; .msgs + ([{role: "user", parts: $parts}]))
        elif $it.role == "assistant" then
          # `phase` (commentary / final_answer) rides on the text parts so that
          # the message items come back as they were
          _push_asst($parts | if $it.phase then map(. + {ext: {responses: {phase: $it.phase}}}) else . end)
        elif $it.role == "system" or $it.role == "developer" then
          (if any($parts[]; .type != "text") then error("\($at).content: a \($it.role) message holds text parts only") else . end)
          | if .msgs == [] and .asst == null then setpath(["sys"]; .sys + (($parts | map(. + {ext: {responses: {role: $it.role}}}))))
          else _flush | setpath(["msgs"]; .msgs + ([{role: "system", parts: $parts, ext: {responses: {role: $it.role}}}])) end
        else error("\($at).role: expected user, assistant, system or developer") end
    elif $t == "function_call" or $t == "custom_tool_call" or $t == "local_shell_call" then
      _push_asst([$it | p::call_in($at)])
    elif $t == "reasoning" then
      [$it | p::reasoning_in] as $r
      | if ($r | length) == 1 and $r[0].type != "reasoning" then _attach($r[0]) else _push_asst($r) end
    elif $t == "function_call_output" or $t == "custom_tool_call_output" or $t == "local_shell_call_output" then
      ($it.call_id // (if $t == "local_shell_call_output" then $it.id else null end)) as $id
      | (if ($id | type) != "string" then error("\($at).call_id: field required") else . end)
      | ($it.output | if type == "string" then (if . == "" then [] else [{type: "text", text: .}] end)
          elif type == "array" then p::content_in("\($at).output")
          elif . == null then error("\($at).output: field required")
          else [{type: "text", text: tojson}] end) as $content
      | _flush
      | setpath(["msgs"]; .msgs + ([{role: "tool", parts: [{type: "tool_result", id: $id, content: $content}
          + (if ($it.name | type) == "string" then {name: $it.name} else {} end)
          # the output item's type follows the call's kind on the way out; this
          # only matters when the call is not in the same request
          + (if $t != "function_call_output" then {ext: {responses: {type: $t}}} else {} end)]}]))
    elif $t == "item_reference" then
      error("\($at): item_reference needs server-side state, which this proxy does not keep; send the full item (store:false)")
    elif $t == null then error("\($at).type: field required")
    elif ($t | type) != "string" or ($t | startswith("input_")) or $t == "output_text" then
      error("\($at).type: \($t | tojson) is a content part, not an item; put it in a message's content")
    else
      # hosted-tool calls and outputs, compaction, ...: replayed to Responses only (pitfall 25)
      _push_asst([{type: "opaque", dialect: "responses", value: $it}])
    end
  | del(.item);

def decode($ctx):
  if type != "object" then error("body: expected a JSON object") else . end
  | if (.model | type) != "string" or .model == "" then error("model: field required") else . end
  # pitfall 10: we keep no server-side state to resolve these against
  | if .previous_response_id != null then error("previous_response_id: not supported; this proxy keeps no stored responses, send the whole conversation in input") else . end
  | if .conversation != null then error("conversation: not supported; this proxy keeps no conversations, send the whole conversation in input") else . end
  | if .instructions != null and (.instructions | type) != "string" then error("instructions: expected a string") else . end
  # Without stored prompts or responses (pitfall 10) the conversation is `input`.
  | if .input == null then error("input: field required (a string or a list of items)") else . end
  | (.input | _items) as $items
  | (reduce range(0; $items | length) as $i
      ({sys: (if (.instructions // "") != "" then [{type: "text", text: .instructions}] else [] end), msgs: [], asst: null};
       setpath(["item"]; $items[$i]) | _item($i))
     | _flush) as $conv
  | (if .tools != null and (.tools | type) != "array" then error("tools: expected an array") else . end)
  | [(.tools // []) | to_entries[] | .key as $k | .value | _tool_in("tools[\($k)]")] as $tools
  | ([(.["include"] // [])[] | select(. != "reasoning.encrypted_content")]) as $incl
  | ((.text // {}) | del(.format) | _nonnull) as $text_rest
  | ((to_entries | map(select(.key | IN(_known[]) | not) | select(.value != null)) | from_entries)
     + (if ($incl | length) > 0 then {"include": $incl} else {} end)
     + (if ($text_rest | length) > 0 then {text: $text_rest} else {} end)) as $ext
  | {model, stream: (.stream == true)}
  + (if ($conv.sys | length) > 0 then {system: $conv.sys} else {} end)
  + {messages: $conv.msgs}
  + (if ($tools | length) > 0 then {tools: $tools} else {} end)
  + ((.tool_choice | _tool_choice_in) as $tc | if $tc then {tool_choice: $tc} else {} end)
  + (if (.parallel_tool_calls | type) == "boolean" then {parallel_tool_calls} else {} end)
  + (if .max_output_tokens != null then {max_tokens: .max_output_tokens} else {} end)
  + ({temperature, top_p} | _nonnull)
  + (if (.reasoning | type) == "object" then
       {reasoning: ((.reasoning | {effort, summary: (.summary // .generate_summary)} | _nonnull)
         # E.5: a summary is how a Responses client asks to see thoughts
         | if .summary then . + {include_thoughts: true} else . end)}
     else {} end)
  + (if (.text.format | type) == "object" then {response_format: (.text.format | _format_in)} else {} end)
  + ((.safety_identifier // .user) as $u | if ($u | type) == "string" then {user: $u} else {} end)
  + (if ($ext | length) > 0 then {ext: {responses: $ext}} else {} end);

# ================================================================ encode

def _tool_out:
  if .kind == "hosted" then
    if .hosted.dialect == "responses" then .hosted.value
    # pitfall 25: only the obvious counterpart of another dialect's web search
    elif .hosted.dialect == "claude" and ((.hosted.value.type // "") | startswith("web_search")) then {type: "web_search"}
    elif .hosted.dialect == "gemini" and (.hosted.value.googleSearch != null) then {type: "web_search"}
    else empty end
  elif .kind == "local_shell" then {type: "local_shell"}
  elif .kind == "custom" then
    {type: "custom", name} + (if .description then {description} else {} end)
    # B.4: Responses grammars are flat; Chat nests them under `grammar`
    + (if .format then {format: (.format | if .grammar then {type: "grammar"} + .grammar else . end)} else {} end)
  else
    {type: "function", name} + (if .description then {description} else {} end)
    # pitfall 27: strict sent explicitly, false unless known strict
    + {strict: (.strict == true), parameters: (.schema // null)}
  end;

def _tool_choice_out($tools):
  if .mode == "tool" then
    .name as $n | ([$tools[]? | select(.name == $n)] | .[0]) as $t
    | if $t.kind == "custom" then {type: "custom", name: $n}
      elif $t.kind == "hosted" and $t.hosted.dialect == "responses" then
        $t.hosted.value | {type} + (if .type == "mcp" then {server_label} else {} end)
      else {type: "function", name: $n} end
  elif .names then
    {type: "allowed_tools", mode: (if .mode == "required" then "required" else "auto" end),
     tools: [.names[] as $n | ([$tools[]? | select(.name == $n)] | .[0]) as $t
       | if $t.kind == "custom" then {type: "custom", name: $n}
         elif $t.kind == "hosted" then ($t | _tool_out)
         else {type: "function", name: $n} end]}
  else .mode // "auto" end;

def _format_out:
  if .type == "json_schema" then
    # B.4 / pitfall 29: flat; a name is required, invent one when missing
    {type: "json_schema", name: (.name // "response"), schema: (.schema // {})}
    + (if .description then {description} else {} end) + (if .strict != null then {strict} else {} end)
  else {type} end;

def _tool_output($content; $err):
  ($content // []) as $c
  # pitfall 15: Responses has no error flag, so a failed tool says so in words
  | ($c | if $err then (if length > 0 and .[0].type == "text" then .[0].text = "Error: " + .[0].text else [{type: "text", text: "Error"}] + . end) else . end)
  | if length == 0 then ""
    elif length == 1 and .[0].type == "text" then .[0].text
    else map(p::input_part) end;

# Assistant parts -> items, in order (pitfall 9): reasoning items, message
# items (a run of text/refusal parts with the same phase is one message),
# call items, replayed hosted items.
def _assistant_items:
  reduce .[] as $pt ({items: [], open: false};
    if $pt.type == "text" or $pt.type == "refusal" then
      ($pt.ext.responses.phase) as $ph
      | (if $pt.type == "text" then {type: "output_text", text: $pt.text} else {type: "refusal", refusal: $pt.text} end) as $c
      | if .open and .items[-1].phase == $ph then .items[-1].content += [$c]
        else setpath(["items"]; .items + ([{type: "message", role: "assistant", content: [$c]} + (if $ph then {phase: $ph} else {} end)])) | setpath(["open"]; true) end
    elif $pt.type == "tool_call" then setpath(["items"]; .items + ([$pt | p::call_out(null)])) | setpath(["open"]; false)
    elif $pt.type == "reasoning" then setpath(["items"]; .items + ([$pt | p::reasoning_out(null; false)])) | setpath(["open"]; false)
    elif $pt.type == "opaque" then (if $pt.dialect == "responses" then setpath(["items"]; .items + ([$pt.value])) else . end) | setpath(["open"]; false)
    else . end)
  # a message of one text part goes in the easy form with string content,
  # which openai-python types and the API accepts for assistant history;
  # several parts or a refusal keep Codex's output_text list (B.5)
  | .items | map(if .type == "message" and (.content | length) == 1 and .content[0].type == "output_text"
                  then setpath(["content"]; .content[0].text) else . end);

def _input_message($role): {type: "message", role: $role, content: [.[] | p::input_part]};

def encode($ctx):
  . as $ir
  | ([.messages[]? | select(.role == "assistant") | .parts[]? | select(.type == "tool_call") | {key: .id, value: .kind}] | from_entries) as $kinds
  # pitfall 1, 3: system text -> instructions; leading Responses
  # system/developer messages (ext) come back as such
  | ([.system[]? | select(.ext.responses.role == null) | .text] | join("\n\n")) as $instructions
  | ([.system[]? | select(.ext.responses.role != null)]
     | reduce .[] as $s ([]; if length > 0 and .[-1].role == $s.ext.responses.role then .[-1].content += [$s | p::input_part]
        else . + [{type: "message", role: $s.ext.responses.role, content: [$s | p::input_part]}] end)) as $lead
  | [ .messages[]? as $m
      | if $m.role == "user" then $m.parts | _input_message("user")
        # pitfall 2: a mid-conversation system message stays in place as a developer message
        elif $m.role == "system" then $m.parts | _input_message($m.ext.responses.role // "developer")
        elif $m.role == "assistant" then $m.parts | _assistant_items | .[]
        elif $m.role == "tool" then
          $m.parts[] | select(.type == "tool_result")
          | ($kinds[.id] // (.ext.responses.type | if . == "custom_tool_call_output" then "custom" else null end)) as $k
          | if .ext.responses.type == "local_shell_call_output" and $k == null then
              {type: "local_shell_call_output", id, output: _tool_output(.content; .is_error == true)}
            else
              {type: (if $k == "custom" then "custom_tool_call_output" else "function_call_output" end),
               call_id: .id, output: _tool_output(.content; .is_error == true)}
            end
        else empty end ] as $items
  | [.tools[]? | _tool_out] as $tools
  | (.reasoning // null) as $r
  | ($r | if . then eff::effort_of else null end) as $effort
  | ($r != null and $effort != "none") as $thinking
  | (.ext.responses // {}) as $x
  | {model: $ctx.model}
  # always present: the ChatGPT Codex backend refuses a body without it and
  # accepts "" (providers.md 4.3); "" decodes back to no system prompt
  + {instructions: $instructions}
  + {input: ($lead + $items)}
  + (if ($tools | length) > 0 then {tools: $tools} else {} end)
  + (if .tool_choice then {tool_choice: (.tool_choice | _tool_choice_out($ir.tools))} else {} end)
  + (if .parallel_tool_calls != null then {parallel_tool_calls} else {} end)
  + (if $r then {reasoning: ({effort: $effort,
        # summary "auto" whenever the client wants to see thoughts (E.5):
        # include_thoughts says so; without it a thinking budget (Claude)
        # means visible thinking, a bare effort (Chat) means none (ambiguous)
        summary: ($r.summary // (if $r.include_thoughts == true or ($r.include_thoughts == null and ($r.budget // 0) > 0)
                                 then "auto" else null end))} | _nonnull)} else {} end)
  # B.3: a stateless proxy never asks the upstream to store anything
  + {store: false, stream: (.stream == true)}
  + (($x["include"] // []) + (if $thinking then ["reasoning.encrypted_content"] else [] end)
     | if length > 0 then {"include": .} else {} end)
  + (if .max_tokens != null then {max_output_tokens: .max_tokens} else {} end)
  + ({temperature, top_p} | _nonnull)
  + ((($x.text // {}) + (if .response_format then {format: (.response_format | _format_out)} else {} end))
     | if length > 0 then {text: .} else {} end)
  # safety_identifier takes at most 64 characters (A.1); Claude's
  # metadata.user_id is often longer: keep a prefix plus a hash, stable per user
  + (if .user then {safety_identifier: (.user | if length <= 64 then . else .[0:48] + "_" + ids::short_hash end)} else {} end)
  # pitfall 38: Responses has no stop sequences; stop, n, seed, penalties,
  # top_k have no field here and are dropped
  + ($x | del(.["include"], .text));

# ================================================================ passthrough

def passthrough($ctx): .model = $ctx.model;
