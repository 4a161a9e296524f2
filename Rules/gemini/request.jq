# Gemini generateContent request body (wire-formats.md D.1-D.3) <-> IR request.
# The model and the stream flag are not in the body: they are in the URL
# (`/models/{model}:generateContent` / `:streamGenerateContent?alt=sse`), so
# the runtime hands them over as $ctx.client_model / $ctx.stream (pitfall 65).
import "lib/ids" as ids;
import "lib/json" as json;
import "lib/effort" as eff;
import "gemini/common" as c;
import "gemini/parts" as parts;

# ============================================================================
# decode: Gemini body -> IR
# ============================================================================

def _obj($path): if . == null or type == "object" then . else error("\($path): must be an object") end;
def _arr($path): if . == null or type == "array" then . else error("\($path): must be an array") end;

# functionResponse.response -> [IR text part], is_error (pitfall 14/15):
# {"output": X} -> X, {"error": X} -> X with is_error, any other object -> its
# JSON text. Non-string X is JSON text.
def _result_text: if type == "string" then . else tojson end;
def _decode_result_response:
  if type == "object" and length == 1 and has("output") then {text: (.output | _result_text)}
  elif type == "object" and length == 1 and has("error") then {text: (.error | _result_text), is_error: true}
  elif . == null then {text: ""}
  else {text: _result_text} end;

# Pick the pending call a functionResponse answers: the one with its id, else
# the first pending call of the same name, else the first pending call
# (pitfall 11/12: Gemini 2.5 pairs calls and responses by order and name).
def _match_pending($fr):
  . as $pending
  | (if $fr.id != null then [range(0; length) | select($pending[.].id == $fr.id)]
     else [] end) as $by_id
  | if ($by_id | length) > 0 then $by_id[0]
    elif $fr.id != null then null
    else ([range(0; length) | select($pending[.].name == $fr.name)] + [range(0; length)]) | .[0]
    end;

# One functionResponse part -> IR tool_result; `.st` is the decoder state
# ({n, pending}); returns {st, part}.
def _decode_function_response($p; $path; $ctx):
  ($p.functionResponse | _obj("\($path).functionResponse")) as $fr
  | (.st.pending | _match_pending($fr)) as $k
  | (if $k != null then .st.pending[$k] else null end) as $call
  | (if $k != null then setpath(["st", "pending"]; .st.pending | (.[:$k] + .[$k + 1:])) else . end)
  | ($fr.name // $call.name) as $name
  | if ($name | type) != "string" then error("\($path).functionResponse.name: field required") else . end
  | (if $fr.id != null then {id: $fr.id}
     elif $call != null then {id: $call.id}
     else {id: ids::invented_call_id($ctx; .st.n)} end) as $idobj
  | (if $fr.id == null and $call == null then setpath(["st", "n"]; .st.n + (1)) else . end)
  | ($fr.response | _decode_result_response) as $r
  # multimodal results (Gemini 3): images and files; the IR has no audio in
  # a tool result, so audio is carried as a file
  | ([$fr.parts[]? | parts::media_part("\($path).functionResponse.parts")
      | if .type == "audio" then {type: "file", media_type: "audio/\(.format)", data} else . end]) as $media
  | ($fr | del(.id, .name, .response, .parts)) as $frx
  | setpath(["part"]; ({type: "tool_result"} + $idobj + {name: $name, content: ([{type: "text", text: $r.text}] + $media)}
             + (if $r.is_error then {is_error: true} else {} end)
             + (if $frx != {} then {ext: {gemini: {functionResponse: $frx}}} else {} end)));

# A `model` content -> one assistant message. Calls without an id get
# invented ids (lib/ids, pitfall 11) and become the pending calls that the
# next user content's functionResponses answer.
def _decode_model_content($c; $i; $ctx):
  reduce range(0; $c.parts | length) as $j (setpath(["parts"]; []);
    $c.parts[$j] as $p0
    | "contents[\($i)].parts[\($j)]" as $path
    # a carrier (common.jq) gives back the foreign reasoning parts it holds,
    # right before the part it rode on (README "Signature carriers")
    | (if ($p0 | type) == "object" then $p0.thoughtSignature | c::uncarry else null end) as $carried
    | (if $carried != null then $p0 | del(.thoughtSignature) else $p0 end) as $p
    # the thought parts the client kept next to the carrier repeat its text
    | (if $carried != null then
         ([$carried[].text]) as $texts
         | setpath(["parts"]; .parts | map(select(.type != "reasoning" or .signature != null or (.text as $t | $texts | index([$t]) | not))))
         | setpath(["parts"]; .parts + ($carried))
       else . end)
    | if $carried != null and $p.thought == true then .
    elif ($p | type) == "object" and $p.functionCall != null then
        ids::invented_call_id($ctx; .st.n) as $invented
        | ($p | parts::decode_model_part($path; $invented)) as $part
        | (if $p.functionCall.id == null then setpath(["st", "n"]; .st.n + (1)) else . end)
        | setpath(["st", "pending"]; .st.pending + ([{id: $part.id, name: $part.name}]))
        | setpath(["parts"]; .parts + ([$part]))
      else setpath(["parts"]; .parts + ([$p | parts::decode_model_part($path; null)])) end)
  | if (.parts | length) > 0 then setpath(["st", "messages"]; .st.messages + ([{role: "assistant", parts: .parts}])) else . end;

# A `user` content -> user and tool messages in wire order: runs of
# functionResponse parts are IR tool messages, everything else user messages
# (the IR keeps tool results in messages of their own).
def _flush: if .cur != null and (.cur.parts | length) > 0 then setpath(["st", "messages"]; .st.messages + ([.cur])) else . end | setpath(["cur"]; null);
def _decode_user_content($c; $i; $ctx):
  reduce range(0; $c.parts | length) as $j (setpath(["cur"]; null);
    $c.parts[$j] as $p
    | "contents[\($i)].parts[\($j)]" as $path
    | if ($p | type) == "object" and $p.functionResponse != null then
        (if .cur.role != "tool" then _flush | setpath(["cur"]; {role: "tool", parts: []}) else . end)
        | _decode_function_response($p; $path; $ctx)
        | setpath(["cur", "parts"]; .cur.parts + ([.part])) | del(.part)
      else
        (if .cur.role != "user" then _flush | setpath(["cur"]; {role: "user", parts: []}) else . end)
        | setpath(["cur", "parts"]; .cur.parts + ([$p | parts::decode_user_part($path)]))
      end)
  | _flush;

def _decode_contents($ctx):
  if type != "array" then error("contents: must be an array") else . end
  | . as $contents
  | reduce range(0; length) as $i ({st: {messages: [], n: 0, pending: []}, prev: null};
      $contents[$i] as $c
      | if ($c | type) != "object" then error("contents[\($i)]: must be an object") else . end
      | if ($c.parts | type) != "array" then error("contents[\($i)].parts: field required") else . end
      # pitfall 4: role is optional and defaults to user; the legacy role
      # "function" carried function responses and is a user turn.
      | ($c.role // "user") as $role
      | if $role == "model" then
          (if .prev != "model" then setpath(["st", "pending"]; []) else . end)
          | _decode_model_content($c; $i; $ctx) | setpath(["prev"]; "model")
        elif $role == "user" or $role == "function" then
          _decode_user_content($c; $i; $ctx) | setpath(["prev"]; "user")
        else error("contents[\($i)].role: must be \"user\" or \"model\"") end)
  | .st.messages;

# systemInstruction -> IR system (pitfall 1): its text parts, in order; the
# role is ignored (D.1). Non-text parts have no IR slot and are dropped.
def _decode_system:
  if . == null then null
  elif type == "string" then [{type: "text", text: .}]
  elif type == "object" then [.parts[]? | select(type == "object" and (.text | type) == "string" and .text != "") | {type: "text", text}]
  else error("systemInstruction: must be a Content object") end;

def _decode_tool($i):
  . as $t
  | if type != "object" then error("tools[\($i)]: must be an object") else . end
  | to_entries[]
  | if .key == "functionDeclarations" then
      (.value | _arr("tools[\($i)].functionDeclarations"))
      | to_entries[] | .key as $j | .value
      | if (.name | type) != "string" then error("tools[\($i)].functionDeclarations[\($j)].name: field required") else . end
      | {name, kind: "function"}
        + (if .description != null then {description} else {} end)
        # pitfall 26: `parameters` is the OpenAPI-subset Schema, turned into
        # JSON Schema for the IR; `parametersJsonSchema` already is one.
        + (if .parametersJsonSchema != null then {schema: .parametersJsonSchema}
           elif .parameters != null then {schema: (.parameters | c::schema_to_json)}
           else {} end)
        + ((del(.name, .description, .parametersJsonSchema, .parameters)
            + (if .parameters != null and .parametersJsonSchema == null then {schemaField: "parameters"} else {} end))
           | if . == {} then {} else {ext: {gemini: .}} end)
    else
      # googleSearch, codeExecution, urlContext, googleMaps, fileSearch, ...:
      # hosted tools, replayed only to Gemini (pitfall 25).
      {name: .key, kind: "hosted", hosted: {dialect: "gemini", value: {(.key): .value}}}
    end;

# toolConfig.functionCallingConfig -> IR tool_choice (E.2). ANY with exactly
# one allowed name is a named choice (pitfall 19). VALIDATED behaves like AUTO
# for the other dialects; the word is kept in ext.
def _decode_tool_choice:
  (.functionCallingConfig // {}) as $f
  | ($f.allowedFunctionNames // null) as $names
  | if $f.mode == null and $names == null then null
    elif ($f.mode // "AUTO") == "ANY" then
      (if ($names | length) == 1 then {mode: "tool", name: $names[0]}
       elif $names != null then {mode: "required", names: $names}
       else {mode: "required"} end)
    elif $f.mode == "NONE" then {mode: "none"}
    else {mode: "auto"} + (if $names != null then {names: $names} else {} end) end;

def _decode_response_format:
  (.responseMimeType // null) as $mt
  | if $mt == "application/json" then
      if .responseJsonSchema != null then {type: "json_schema", schema: .responseJsonSchema}
      elif .responseSchema != null then {type: "json_schema", schema: (.responseSchema | c::schema_to_json)}
      else {type: "json_object"} end
    elif $mt == "text/plain" and .responseSchema == null and .responseJsonSchema == null then {type: "text"}
    else null end;

# thinkingConfig -> IR reasoning: thinkingBudget -> budget, thinkingLevel ->
# effort (lib/effort, E.5), includeThoughts -> include_thoughts, and a summary
# request as Responses understands it (E.5: summary != null <-> includeThoughts).
def _decode_thinking:
  if . == null then null
  else
    (if .thinkingBudget != null then {budget: .thinkingBudget} else {} end)
    + (if .thinkingLevel != null then ((.thinkingLevel | eff::effort_for_level) as $e | if $e then {effort: $e} else {} end) else {} end)
    + (if .includeThoughts == true then {include_thoughts: true, summary: "auto"}
       elif .includeThoughts == false then {include_thoughts: false} else {} end)
    | if . == {} then null else . end
  end;

def _gc_mapped:
  {maxOutputTokens: true, temperature: true, topP: true, topK: true, candidateCount: true,
   stopSequences: true, seed: true, presencePenalty: true, frequencyPenalty: true, thinkingConfig: true};

def _decode_generation_config:
  . as $g
  | _decode_response_format as $rf
  | {max_tokens: .maxOutputTokens, temperature, top_p: .topP, top_k: .topK, n: .candidateCount,
     stop: (if (.stopSequences | type) == "string" then [.stopSequences] else .stopSequences end),
     seed, presence_penalty: .presencePenalty, frequency_penalty: .frequencyPenalty,
     reasoning: (.thinkingConfig | _decode_thinking), response_format: $rf}
  | with_entries(select(.value != null))
  # fields the IR has no slot for (responseModalities, mediaResolution,
  # speechConfig, imageConfig, logprobs, other response MIME types, ...)
  | setpath(["ext_gc"]; ($g | with_entries(select(_gc_mapped[.key] | not))
               | if $rf != null then del(.responseMimeType, .responseSchema, .responseJsonSchema) else . end));

def decode($ctx):
  if type != "object" then error("body: must be a JSON object") else . end
  # The Code Assist envelope {model, project, request} is unwrapped by its
  # provider before these rules run (D.8, pitfall 67); reaching here it is a
  # plain body without contents.
  | if .contents == null and (.request | type) == "object" then
      error("contents: field required (a Code Assist {model, project, request} envelope must be unwrapped first)")
    elif .contents == null then error("contents: field required")
    else . end
  | (.generationConfig | _obj("generationConfig") // {} | _decode_generation_config) as $gc
  | (.toolConfig | _obj("toolConfig")) as $tc
  | ([(.tools | _arr("tools") // []) | to_entries[] | .key as $i | .value | _decode_tool($i)]) as $tools
  | (.systemInstruction | _decode_system) as $system
  | ($tc | if . == null then null else _decode_tool_choice end) as $choice
  # ext.gemini: every top-level field without an IR slot (safetySettings,
  # cachedContent, labels, serviceTier, store, session_id, ...), plus the
  # unmapped parts of generationConfig and toolConfig.
  | (del(.contents, .systemInstruction, .tools, .toolConfig, .generationConfig)
     + (if $gc.ext_gc != {} then {generationConfig: $gc.ext_gc} else {} end)
     + (($tc // {})
        | (if .functionCallingConfig.mode == "VALIDATED" then {functionCallingConfig: {mode: "VALIDATED"}} else {} end)
          + ((.functionCallingConfig // {}) | del(.mode, .allowedFunctionNames) | if . == {} then {} else {functionCallingConfig: .} end)
          + del(.functionCallingConfig)
        | if . == {} then {} else {toolConfig: .} end)) as $ext
  | ((.contents | _decode_contents($ctx))) as $messages
  | ($ctx.client_model // $ctx.model // "" | tostring | ltrimstr("models/")) as $model
  | {model: $model}
    + {stream: ($ctx.stream == true)}
    + (if $system != null and ($system | length) > 0 then {system: $system} else {} end)
    + {messages: $messages}
    + (if ($tools | length) > 0 then {tools: $tools} else {} end)
    + (if $choice != null then {tool_choice: $choice} else {} end)
    + ($gc | del(.ext_gc))
    + (if $ext != {} then {ext: {gemini: $ext}} else {} end);

# ============================================================================
# encode: IR -> Gemini body
# ============================================================================

# Mid-conversation system/developer messages have no slot in Gemini; they
# become user text wrapped in a marker so that their position survives
# (pitfall 2).
def _reminder: "<system-reminder>\n" + ([.parts[]? | select(.type == "text") | .text] | join("\n\n")) + "\n</system-reminder>";

# IR messages -> turns {role: user|model, parts: [IR part + _path]} with
# consecutive same-role messages merged (pitfall 5): user, tool and system
# messages are all Gemini `user` content (pitfall 4). Tool results stay in
# place here; _contents regroups them.
def _turns:
  reduce (.messages // [] | to_entries[]) as $e ([];
    $e.value as $m
    | (if $m.role == "assistant" then "model" else "user" end) as $role
    | (if $m.role == "system" then [{type: "text", text: ($m | _reminder)}]
       elif $m.role == "tool" then [$m.parts[]? | select(.type == "tool_result")]
       else [$m.parts[]?] end
       | to_entries | map(.value + {_path: "messages[\($e.key)].parts[\(.key)]"})) as $add
    | if length > 0 and .[-1].role == $role then .[-1].parts += $add
      else . + [{role: $role, parts: $add}] end);

# The model turn's parts -> wire parts. A reasoning part is replayed as a
# thought part only when it came from Gemini (ext.gemini.thought): reasoning
# text of another vendor is never presented to Gemini as its own thoughts
# (choice; pitfall 44/49). A Gemini signature on a reasoning part that is not
# replayed is handed to the next text/tool_call part without one of its own
# (README "Signature carriers"); foreign signatures are dropped (pitfall 44).
def _encode_model_parts:
  reduce .[] as $p ({out: [], carry: null};
    ($p | c::own_sig) as $own
    | if $p.type == "reasoning" then
        if $p.ext.gemini.thought == true then
          setpath(["out"]; .out + ([{text: ($p.text // ""), thought: true} + ($p.ext.gemini | del(.thought)) + c::sig_field($own)]))
        elif $own != null then setpath(["carry"]; $own)
        else . end
      elif $p.type == "text" then
        ($own // .carry) as $s
        | if ($p.text // "") == "" and $s == null then .
          else setpath(["out"]; .out + ([{text: ($p.text // "")} + ($p.ext.gemini // {}) + c::sig_field($s)])) | setpath(["carry"]; null) end
      elif $p.type == "tool_call" then
        setpath(["out"]; .out + ([{functionCall: ({name: $p.name, args: ($p.arguments | json::args_object)}
                                 | if $p.id != null then {id: $p.id} + . else . end)}
                 + ($p.ext.gemini // {}) + c::sig_field($own // .carry)]))
        | setpath(["carry"]; null)
      elif $p.type == "refusal" then
        (if ($p.text // "") == "" then . else setpath(["out"]; .out + ([{text: $p.text}])) end)
      else setpath(["out"]; .out + ([$p | parts::encode_user_part($p._path)])) end)
  | .out;

def _call_ids: [.[] | select(.type == "tool_call") | {id, name}];

# A tool result -> functionResponse (pitfall 12/14/15). The name comes from
# the call it answers (Chat, Responses and Claude results carry only the id).
# Images and files in the result go to functionResponse.parts on Gemini 3;
# older models get them as ordinary parts of the same user content, after the
# responses (pitfall 14), as Gemini CLI does.
def _function_response($call; $g3):
  (._path) as $path
  | ([.content | to_entries[]? | select(.value.type == "image" or .value.type == "file")
      | .key as $j | .value | parts::encode_media("\($path).content[\($j)]")]) as $media
  | {functionResponse: ({name: $call.name, response: parts::response_object}
       | (if $call.id != null then {id: $call.id} + . else . end)
       | (if $g3 and ($media | length) > 0 then setpath(["parts"]; $media) else . end))}
    + (if $g3 then {} else {_media: $media} end);

# The functionResponse parts of the user turn that follows a model turn with
# calls: one per call, in call order (pitfall 5/13); a call without a result
# gets a synthesized "Tool call was cancelled." error (pitfall 13). Results
# that answer none of these calls are rendered as user text, never dropped
# silently (choice: Gemini rejects functionResponses without their call).
def _orphan($known):
  . as $r
  | ($r.name // ([$known[] | select(.id == $r.id) | .name] | .[0])) as $name
  | if $name == null then
      error("\($r._path // "messages"): tool result \($r.id | tojson) answers no tool call earlier in the request (pitfall 12)")
    else . end
  | {text: ("[tool result of \($name) for call \($r.id)" + (if $r.is_error then ", error" else "" end) + "]\n"
           + ([$r.content[]? | select(.type == "text") | .text] | join("\n")))};

# The user turn after a model turn: its functionResponses (in call order),
# then the rest of the turn in order, with unanswered results as text.
def _answer($calls; $parts; $known; $g3):
  ([range(0; $parts | length) | select($parts[.].type == "tool_result")]) as $results
  | reduce $calls[] as $call ({used: [], out: [], media: []};
      . as $acc
      | ([$results[] | select(. as $x | ($parts[$x].id == $call.id) and ($acc.used | index([$x]) | not))] | .[0]) as $k
      | if $k != null then
          ($parts[$k] | _function_response($call; $g3)) as $fr
          | setpath(["used"]; .used + ([$k])) | setpath(["out"]; .out + ([$fr | del(._media)])) | setpath(["media"]; .media + (($fr._media // [])))
        else setpath(["out"]; .out + ([{functionResponse: ({name: $call.name, response: {error: "Tool call was cancelled."}}
                                           | if $call.id != null then {id: $call.id} + . else . end)}]))
        end)
  | . as $acc
  | .out + .media
    + [range(0; $parts | length) as $i | $parts[$i]
       | if .type == "tool_result" then (if ($acc.used | index([$i])) then empty else _orphan($known) end)
         else parts::encode_user_part(._path) end];

def _contents($ctx):
  ($ctx.model // "" | startswith("gemini-3")) as $g3
  | _turns as $turns
  | ([$turns[] | select(.role == "model") | .parts | _call_ids[]]) as $known
  | reduce range(0; $turns | length) as $t ({out: []};
      $turns[$t] as $turn
      | if $turn.role == "model" then
          setpath(["out"]; .out + ([{role: "model", parts: ($turn.parts | _encode_model_parts)}]))
          # pitfall 13: a model turn with calls is always answered right after,
          # also when the client sent nothing back.
          | if ($turn.parts | _call_ids | length) > 0 and (($turns[$t + 1].role // null) != "user") then
              setpath(["out"]; .out + ([{role: "user", parts: _answer($turn.parts | _call_ids; []; $known; $g3)}]))
            else . end
        else
          (if $t > 0 and $turns[$t - 1].role == "model" then ($turns[$t - 1].parts | _call_ids) else [] end) as $calls
          | setpath(["out"]; .out + ([{role: "user", parts: _answer($calls; $turn.parts; $known; $g3)}]))
        end)
  | .out
  # pitfall 7: no empty contents
  | map(select((.parts | length) > 0))
  # pitfall 6: the first content must be a user turn (ambiguous: a neutral
  # placeholder is the usual fix)
  | if length > 0 and .[0].role == "model" then [{role: "user", parts: [{text: "."}]}] + . else . end;

# pitfall 47: on Gemini 3 the first functionCall of every step of the current
# turn (the model contents after the last user content with text or media)
# must carry a thoughtSignature. Calls that did not come from Gemini get the
# documented bypass value.
def _bypass_signatures($ctx):
  if ($ctx.model // "" | startswith("gemini-3")) | not then .
  else
    . as $cs
    | ([range(0; length) | select($cs[.].role == "user" and any($cs[.].parts[]; .functionResponse == null))] | .[-1] // -1) as $last
    | reduce range($last + 1; length) as $i (.;
        if .[$i].role != "model" then .
        else
          ([range(0; .[$i].parts | length) as $j | select(.[$i].parts[$j].functionCall != null) | $j] | .[0]) as $j
          | if $j != null and .[$i].parts[$j].thoughtSignature == null then .[$i].parts[$j].thoughtSignature = c::skip_signature
            else . end
        end)
  end;

# pitfall 23: custom (freeform) tools become a function taking one string.
def _custom_schema:
  (.format // null) as $f
  | ("The raw input of the tool, as free text."
     + (if ($f | type) == "object" and ($f.definition // $f.grammar.definition) != null then
          "\nIt must match this \($f.syntax // $f.grammar.syntax // "") grammar:\n\($f.definition // $f.grammar.definition)"
        else "" end)) as $d
  | {type: "object", properties: {input: {type: "string", description: $d}}, required: ["input"]};

# pitfall 24: the local_shell tool as a function.
def _local_shell_schema:
  {type: "object",
   properties: {command: {type: "array", items: {type: "string"}}, workdir: {type: "string"}, timeout_ms: {type: "integer"}},
   required: ["command"]};

def _declaration:
  ({name} + (if .description != null then {description} else {} end)) as $base
  | (.ext.gemini // {} | del(.schemaField)) as $x
  | if .kind == "custom" then $base + {parametersJsonSchema: _custom_schema}
    elif .kind == "local_shell" then $base + {description: (.description // "Runs a shell command and returns its output.")} + {parametersJsonSchema: _local_shell_schema}
    elif .schema == null then $base + $x
    # pitfall 26: v1beta understands JSON Schema in parametersJsonSchema, so
    # schemas go out as they are (minus $schema); the OpenAPI-subset
    # sanitizer is only used for declarations that came in as `parameters`.
    elif .ext.gemini.schemaField == "parameters" then $base + {parameters: (.schema | c::schema_to_gemini)} + $x
    else $base + {parametersJsonSchema: (.schema | c::strip_schema_uri)} + $x end;

# pitfall 25: hosted tools are replayed to Gemini when they were Gemini's;
# a web search of another vendor becomes googleSearch; the rest is dropped.
def _hosted:
  if .hosted.dialect == "gemini" then .hosted.value
  elif ((.hosted.value.type // .name // "") | tostring | startswith("web_search")) then {googleSearch: {}}
  else empty end;

def _tools:
  (.tool_choice // null) as $tc
  | (if $tc.mode == "auto" and ($tc.names | type) == "array" then $tc.names else null end) as $only
  | reduce (.tools // [])[] as $t ({out: [], fd: null};
      if $t.kind == "hosted" then setpath(["out"]; .out + ([$t | _hosted]))
      # E.2: names restrict an "auto" choice by filtering the declarations
      elif $only != null and ($only | index([$t.name]) | not) then .
      else
        (if .fd == null then setpath(["fd"]; (.out | length)) | setpath(["out"]; .out + ([{functionDeclarations: []}])) else . end)
        | .out[.fd].functionDeclarations += [$t | _declaration]
      end)
  | .out;

# IR tool_choice -> functionCallingConfig (E.2). parallel_tool_calls has no
# Gemini equivalent and is dropped (pitfall 18).
def _tool_config:
  (.tool_choice // null) as $tc
  | (.ext.gemini.toolConfig // null) as $x
  | (if $tc == null then null
     elif $tc.mode == "none" then {mode: "NONE"}
     elif $tc.mode == "required" then {mode: "ANY"} + (if $tc.names != null then {allowedFunctionNames: $tc.names} else {} end)
     elif $tc.mode == "tool" then {mode: "ANY", allowedFunctionNames: [$tc.name]}
     else {mode: "AUTO"} end) as $fcc
  | if $fcc == null and $x == null then null
    else ($x // {}) | setpath(["functionCallingConfig"]; (($fcc // {}) + (.functionCallingConfig // {}))) end;

# IR reasoning -> thinkingConfig (E.5, pitfall 43): Gemini 3 takes a
# thinkingLevel (Pro knows only LOW/HIGH), the 2.5 family a thinkingBudget;
# never both. 2.5 Pro cannot turn thinking off (minimum 128); Flash caps at
# 24576. Choice (D.3 calls the Gemini 3 mapping ambiguous): a client that
# stated an exact token budget gets that budget on Gemini 3 too, which still
# accepts thinkingBudget; only an effort word becomes a thinkingLevel.
def _thinking($ctx):
  .reasoning as $r
  | if $r == null then null
    else
      ($ctx.model // "") as $m
      | ($m | startswith("gemini-3")) as $g3
      | ($m | contains("pro")) as $pro
      | (if $r.include_thoughts != null then $r.include_thoughts
         elif $r.summary != null and $r.summary != "none" then true
         else null end) as $inc
      | (if $g3 and $r.budget == null then
           ($r | eff::effort_of) as $e
           | if $e != null then {thinkingLevel: ($e | eff::level_for_effort($pro))} else {} end
         else
           ($r.budget // ($r.effort | if . != null then eff::budget_for_effort("gemini") else null end)) as $b
           | if $b == null then {}
             else ($b
                   | if ($m | contains("2.5-pro")) and . >= 0 and . < 128 then 128
                     elif ($m | contains("flash")) and . > 24576 then 24576
                     else . end) as $b2
               | {thinkingBudget: $b2} end
         end) as $level
      | (if $inc != null then {includeThoughts: $inc} else {} end) + $level
      | if . == {} then null else . end
    end;

def _response_format:
  .response_format as $f
  | if $f == null then {}
    elif $f.type == "json_object" then {responseMimeType: "application/json"}
    # pitfall 29: name/strict have no Gemini slot; the schema goes as JSON Schema
    elif $f.type == "json_schema" then
      {responseMimeType: "application/json"}
      + (if $f.schema != null then {responseJsonSchema: ($f.schema | c::strip_schema_uri)} else {} end)
    elif $f.type == "text" then {responseMimeType: "text/plain"}
    else {} end;

def _generation_config($ctx):
  (.ext.gemini.generationConfig // {})
  + ({maxOutputTokens: .max_tokens, temperature, topP: .top_p, topK: .top_k, candidateCount: .n,
      # pitfall 38: at most 5 stop sequences
      stopSequences: (.stop | if . == null then null elif type == "string" then [.] else .[:5] end),
      seed, presencePenalty: .presence_penalty, frequencyPenalty: .frequency_penalty}
     | with_entries(select(.value != null)))
  + _response_format
  + (_thinking($ctx) | if . == null then {} else {thinkingConfig: .} end);

def encode($ctx):
  (_contents($ctx) | _bypass_signatures($ctx)) as $contents
  | if ($contents | length) == 0 then error("messages: at least one non-empty message is required") else . end
  | ([.system[]? | select(.type == "text" and (.text // "") != "") | {text}]) as $system
  | _tools as $tools
  | _tool_config as $toolConfig
  | _generation_config($ctx) as $gc
  | (.ext.gemini // {} | del(.generationConfig, .toolConfig)) as $x
  | {contents: $contents}
    # systemInstruction as separate text parts (choice: keeps the blocks of
    # a Claude system array apart; role "user" as the SDKs send it)
    + (if ($system | length) > 0 then {systemInstruction: {role: "user", parts: $system}} else {} end)
    + (if ($tools | length) > 0 then {tools: $tools} else {} end)
    + (if $toolConfig != null then {toolConfig: $toolConfig} else {} end)
    + (if $gc != {} then {generationConfig: $gc} else {} end)
    + $x;

# Gemini -> Gemini: the body goes as it came; the model is in the URL.
def passthrough($ctx): .;
