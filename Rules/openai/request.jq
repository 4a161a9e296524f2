# OpenAI Chat Completions requests (wire-formats.md A.1-A.3) <-> IR request.
import "lib/ext" as x;
import "lib/dataurl" as du;
import "lib/ids" as ids;
import "lib/json" as js;
import "lib/effort" as eff;
import "openai/common" as c;
import "lib/text" as t;

def _fail($path; $what): error("\($path): \($what)");

# Keys of the input object that are not in `$known`, as {openai: {...}} (Ext),
# or null when there are none.
def _extra($known):
  x::rest($known) | if . == null then null else {openai: .} end;

# Attach `$ext` (an Ext or null) to the input, merging with what it has.
def _with_ext($ext):
  if $ext == null then . else setpath(["ext"]; ((.ext // {}) * $ext)) end;

# ================================================================== decode

# A content part of a user/assistant message -> IR Part. In assistant content
# an unknown part type (the SDK keeps adding some) becomes `opaque`, so that
# nothing is lost and a Chat upstream gets it back verbatim (pitfall 25);
# user content refuses it (_user_part_in).
def _part_in($p):
  . as $raw
  | if type != "object" then _fail($p; "must be an object")
  elif .type == "text" then
    if (.text | type) != "string" then _fail($p + ".text"; "must be a string")
    else {type: "text", text} | _with_ext($raw | _extra(["type", "text"])) end
  elif .type == "image_url" then
    # a bare string image_url is what some clients send; the SDK nests {url}.
    (.image_url | if type == "string" then {url: .} elif type == "object" then . else null end) as $iu
    | if ($iu.url | type) != "string" then _fail($p + ".image_url.url"; "field required")
      else ($iu.url | du::parse_data_url) as $d
        # pitfall 31: data URLs are split into media_type + data.
        | {type: "image"} + ($d // {url: $iu.url}) | c::put("detail"; $iu.detail)
        | _with_ext($raw | _extra(["type", "image_url"]))
      end
  elif .type == "input_audio" then
    if (.input_audio.data | type) != "string" then _fail($p + ".input_audio.data"; "field required")
    else {type: "audio", format: (.input_audio.format // "wav"), data: .input_audio.data}
      | _with_ext($raw | _extra(["type", "input_audio"])) end
  elif .type == "file" then
    (.file // {}) as $f
    | if ($f | type) != "object" then _fail($p + ".file"; "must be an object") else . end
    | ($f.file_data | du::parse_data_url) as $d
    # pitfall 34: file_data is a data URL; a bare base64 string is kept as it
    # came (ext raw_data) since its media type is unknown.
    | {type: "file"}
      + (if $d then $d elif $f.file_data != null then {data: $f.file_data} else {} end)
      | c::put("file_id"; $f.file_id) | c::put("filename"; $f.filename)
      | if $d == null and $f.file_data != null then _with_ext({openai: {raw_data: true}}) else . end
  elif .type == "refusal" then
    if (.refusal | type) != "string" then _fail($p + ".refusal"; "must be a string")
    else {type: "refusal", text: .refusal} end
  elif (.type | type) != "string" then _fail($p + ".type"; "field required")
  else {type: "opaque", dialect: "openai", value: .} end;

# User content holds text, image, file and audio only (README); a part type
# this rule does not know is refused rather than guessed at.
def _user_part_in($p):
  _part_in($p)
  | if .type == "opaque" then _fail($p + ".type"; "unsupported content part type \(.value.type | tojson)")
    elif .type == "refusal" then _fail($p + ".type"; "refusal parts belong to assistant messages")
    else . end;

# string | [part] -> [Part]. Empty text is dropped (pitfall 7).
def _content_in($p; $user):
  if . == null then []
  elif type == "string" then (if . == "" then [] else [{type: "text", text: .}] end)
  elif type == "array" then
    . as $a | [range(0; length) as $i | $a[$i] | if $user then _user_part_in("\($p)[\($i)]") else _part_in("\($p)[\($i)]") end]
    | map(select(.type != "text" or .text != ""))
  else _fail($p; "must be a string or an array of content parts") end;
def _content_in($p): _content_in($p; false);

# Content that may only hold text (system, developer, tool messages).
def _text_in($p):
  _content_in($p) as $parts
  | if any($parts[]; .type != "text") then _fail($p; "only text parts are allowed here") else $parts end;

# One assistant tool call -> IR tool_call part. A custom (freeform) call's raw
# input travels as {"input": <text>} (pitfall 23); function arguments stay the
# JSON text the model wrote, valid or not (pitfall 16).
def _call_in($p):
  if type != "object" then _fail($p; "must be an object")
  elif (.id | type) != "string" then _fail($p + ".id"; "field required")
  elif .type == "custom" or (.type == null and .custom != null) then
    if (.custom.name | type) != "string" then _fail($p + ".custom.name"; "field required")
    else {type: "tool_call", id, name: .custom.name,
          arguments: ({input: (.custom.input // "")} | tojson), kind: "custom"} end
  elif .type == "function" or (.type == null and .function != null) then
    if (.function.name | type) != "string" then _fail($p + ".function.name"; "field required")
    else {type: "tool_call", id, name: .function.name,
          arguments: (.function.arguments | if type == "string" then . elif . == null then "{}" else tojson end),
          kind: "function"} end
  else _fail($p + ".type"; "must be \"function\" or \"custom\"") end;

# The messages array -> {system, messages}. Leading system/developer messages
# form the system prompt (pitfalls 1, 3); later ones stay in place as role
# system (pitfall 2). `developer` and a message's extra fields (name, …) ride
# in ext so that re-encoding restores them.
def _messages_in($ctx):
  . as $msgs
  | reduce range(0; length) as $i ({system: [], messages: [], leading: true, fn: null};
      $msgs[$i] as $m | "messages[\($i)]" as $p
      | if ($m | type) != "object" then _fail($p; "must be an object") else . end
      | ($m.role) as $role
      | if $role == "system" or $role == "developer" then
          ($m.content | _text_in($p + ".content")) as $parts
          | ($m | _extra(["role", "content"])) as $x
          | (if $role == "developer" then {openai: {role: "developer"}} else null end) as $dev
          | if .leading then
              # per part: the message's role and extra fields (grouping key on encode)
              setpath(["system"]; .system + ([$parts[] | _with_ext($dev)
                          | if $x then _with_ext({openai: {message: $x.openai}}) else . end]))
            else
              setpath(["messages"]; .messages + ([{role: "system", parts: $parts} | _with_ext($dev) | _with_ext($x)]))
            end
        elif $role == "user" then
          setpath(["leading"]; false)
          | setpath(["messages"]; .messages + ([{role: "user", parts: ($m.content | _content_in($p + ".content"; true))}
                          | _with_ext($m | _extra(["role", "content"]))]))
        elif $role == "assistant" then
          setpath(["leading"]; false)
          # de-facto extension (A.5 c, pitfall 49): reasoning text as
          # `reasoning_content` (DeepSeek, vLLM, xAI) or `reasoning`
          # (OpenRouter); no signature exists. ext.openai.field remembers
          # which, so that a Chat upstream gets it back in the same field.
          | (if ($m.reasoning_content | type) == "string" and $m.reasoning_content != "" then
               [{type: "reasoning", text: $m.reasoning_content, ext: {openai: {field: "reasoning_content"}}}]
             elif ($m.reasoning | type) == "string" and $m.reasoning != "" then
               [{type: "reasoning", text: $m.reasoning, ext: {openai: {field: "reasoning"}}}]
             else [] end) as $reasoning
          | ($m.content | _content_in($p + ".content")) as $content
          | (if ($m.refusal | type) == "string" and $m.refusal != "" then [{type: "refusal", text: $m.refusal}] else [] end) as $refusal
          | ($m.tool_calls // []) as $tc
          | if ($tc | type) != "array" then _fail($p + ".tool_calls"; "must be an array") else . end
          | [range(0; $tc | length) as $j | $tc[$j] | _call_in("\($p).tool_calls[\($j)]")] as $calls
          # deprecated function_call: one call without an id; invent one from
          # the message index so the following `function` message can refer
          # to it (pitfall 11).
          | (if ($m.function_call | type) == "object" then
               [{type: "tool_call", id: ids::invented_call_id($ctx; $i), name: ($m.function_call.name // ""),
                 arguments: ($m.function_call.arguments // "{}" | if type == "string" then . else tojson end),
                 kind: "function"}]
             else [] end) as $legacy
          | (if $legacy != [] then setpath(["fn"]; $legacy[0].id) else . end)
          | setpath(["messages"]; .messages + ([{role: "assistant", parts: ($reasoning + $content + $refusal + $calls + $legacy)}
                          | _with_ext($m | _extra(["role", "content", "refusal", "tool_calls", "function_call", "reasoning_content", "reasoning"]))]))
        elif $role == "tool" then
          setpath(["leading"]; false)
          | if ($m.tool_call_id | type) != "string" then _fail($p + ".tool_call_id"; "field required") else . end
          # some clients (LangChain, older docs) add `name`: the IR keeps it
          # (Gemini needs it, pitfall 12) and ext re-emits it for Chat only
          | setpath(["messages"]; .messages + ([{role: "tool", parts: [{type: "tool_result", id: $m.tool_call_id}
                                                 + (if ($m.name | type) == "string" then {name: $m.name} else {} end)
                                                 + {content: ($m.content | _text_in($p + ".content"))}
                                                 | _with_ext($m | _extra(["role", "content", "tool_call_id"]))]}]))
        elif $role == "function" then
          # deprecated: answers the latest assistant function_call
          setpath(["leading"]; false)
          | if .fn == null then _fail($p; "function message without a preceding assistant function_call") else . end
          | setpath(["messages"]; .messages + ([{role: "tool", parts: [{type: "tool_result", id: .fn,
                                                  content: ($m.content | _text_in($p + ".content"))}]}]))
        elif $role == null then _fail($p + ".role"; "field required")
        else _fail($p + ".role"; "unknown role \($role | tojson)") end)
  | {system, messages};

# Custom tool grammar: Chat nests {type:"grammar", grammar:{syntax, definition}}
# (A.3); the IR keeps the flat form Responses uses (B.4).
def _format_in:
  if type == "object" and .type == "grammar" and (.grammar | type) == "object" then
    {type: "grammar"} + .grammar
  else . end;

def _tool_in($p):
  if type != "object" then _fail($p; "must be an object")
  elif .type == "function" then
    (.function // null) as $f
    | if ($f | type) != "object" then _fail($p + ".function"; "field required")
      elif ($f.name | type) != "string" then _fail($p + ".function.name"; "field required")
      else {name: $f.name} | c::put("description"; $f.description) | c::put("schema"; $f.parameters)
        | c::put("strict"; $f.strict) | setpath(["kind"]; "function")
        | _with_ext($f | _extra(["name", "description", "parameters", "strict"]))
      end
  elif .type == "custom" then
    (.custom // null) as $f
    | if ($f.name | type) != "string" then _fail($p + ".custom.name"; "field required")
      else {name: $f.name} | c::put("description"; $f.description) | setpath(["kind"]; "custom")
        | c::put("format"; ($f.format | if . == null then null else _format_in end))
      end
  elif (.type | type) == "string" then
    # not a Chat tool type we know: keep it for a Chat upstream (pitfall 25)
    {name: .type, kind: "hosted", hosted: {dialect: "openai", value: .}}
  else _fail($p + ".type"; "field required") end;

# Deprecated `functions`: [{name, description, parameters}].
def _function_in($p):
  if (.name | type) != "string" then _fail($p + ".name"; "field required")
  else . as $f | {name} | c::put("description"; $f.description) | c::put("schema"; $f.parameters) | setpath(["kind"]; "function") end;

def _choice_name: .function.name // .custom.name // .name;

def _choice_in:
  if type == "string" then
    if . == "auto" or . == "none" or . == "required" then {mode: .}
    else _fail("tool_choice"; "must be \"none\", \"auto\", \"required\" or an object") end
  elif type != "object" then _fail("tool_choice"; "must be a string or an object")
  elif .type == "function" or .type == "custom" then
    if (_choice_name | type) != "string" then _fail("tool_choice.\(.type).name"; "field required")
    else {mode: "tool", name: _choice_name} end
  elif .type == "allowed_tools" then
    (.allowed_tools // {}) as $a
    | {mode: (if $a.mode == "required" then "required" else "auto" end),
       names: [($a.tools // [])[] | _choice_name | select(type == "string")]}
  else _fail("tool_choice.type"; "unknown type \(.type | tojson)") end;

# Deprecated `function_call`: "none" | "auto" | {name}.
def _legacy_choice_in:
  if type == "string" then {mode: .} elif type == "object" then {mode: "tool", name: .name} else null end;

def _response_format_in:
  if type != "object" then _fail("response_format"; "must be an object")
  elif .type == "json_schema" then
    (.json_schema // {}) as $j
    | {type: "json_schema"} | c::put("name"; $j.name) | c::put("schema"; $j.schema)
      | c::put("strict"; $j.strict) | c::put("description"; $j.description)
  elif .type == "text" or .type == "json_object" then {type}
  else _fail("response_format.type"; "must be \"text\", \"json_object\" or \"json_schema\"") end;

def _num($k):
  if .[$k] == null or (.[$k] | type) == "number" then .[$k] else _fail($k; "must be a number") end;

# Top-level fields this decoder maps; everything else goes to ext.openai.
def _known:
  ["model", "messages", "stream", "stream_options", "max_completion_tokens", "max_tokens",
   "temperature", "top_p", "n", "stop", "seed", "presence_penalty", "frequency_penalty",
   "response_format", "tools", "tool_choice", "parallel_tool_calls", "reasoning_effort",
   "user", "safety_identifier", "functions", "function_call"];

def decode($ctx):
  if type != "object" then _fail("body"; "must be a JSON object") else . end
  | if .model == null then _fail("model"; "field required")
    elif (.model | type) != "string" then _fail("model"; "must be a string") else . end
  | if .messages == null then _fail("messages"; "field required")
    elif (.messages | type) != "array" then _fail("messages"; "must be an array") else . end
  | if .tools != null and (.tools | type) != "array" then _fail("tools"; "must be an array") else . end
  | if .functions != null and (.functions | type) != "array" then _fail("functions"; "must be an array") else . end
  | if .stop != null and (.stop | type) != "string" and ((.stop | type) != "array" or any(.stop[]; type != "string")) then
      _fail("stop"; "must be a string or an array of strings") else . end
  | . as $in
  | if .reasoning_effort != null and (["none", "minimal", "low", "medium", "high", "xhigh", "max"] | index([$in.reasoning_effort])) == null then
      _fail("reasoning_effort"; "must be one of none, minimal, low, medium, high, xhigh, max") else . end
  | if .parallel_tool_calls != null and (.parallel_tool_calls | type) != "boolean" then _fail("parallel_tool_calls"; "must be a boolean") else . end
  | . as $b
  | ($b.messages | _messages_in($ctx)) as $conv
  | ([($b.tools // []) as $t | range(0; $t | length) as $i | $t[$i] | _tool_in("tools[\($i)]")]
     + [($b.functions // []) as $t | range(0; $t | length) as $i | $t[$i] | _function_in("functions[\($i)]")]) as $tools
  | ($b.stream == true) as $streaming
  # ext.openai: whatever has no IR field (metadata, store, service_tier,
  # logit_bias, logprobs, verbosity, prompt_cache_key, modalities, …), so
  # that decode | encode | decode is a fixpoint.
  | ($b | _extra(_known) // {openai: {}}) as $x
  | ($x.openai
     # both caps given: IR keeps max_completion_tokens, the other rides along
     + (if $b.max_completion_tokens != null and $b.max_tokens != null then {max_tokens: $b.max_tokens} else {} end)
     # both ids given: IR keeps safety_identifier (the newer field)
     + (if $b.safety_identifier != null and $b.user != null then {user: $b.user} else {} end)
     # stream_options beside include_usage (include_obfuscation), or all of
     # it when the request does not stream (the API rejects that; kept as is)
     + (($b.stream_options // null) as $so
        | if ($so | type) != "object" then {}
          elif $streaming then ($so | del(.include_usage)) as $rest | if $rest == {} then {} else {stream_options: $rest} end
          else {stream_options: $so} end)) as $ext
  | {model: $b.model}
  | c::put("stream"; ($b.stream | if type == "boolean" then . else null end))
  | (if $conv.system != [] then setpath(["system"]; $conv.system) else . end)
  | setpath(["messages"]; $conv.messages)
  | (if $tools != [] then setpath(["tools"]; $tools) else . end)
  | c::put("tool_choice"; (if $b.tool_choice != null then ($b.tool_choice | _choice_in)
                           elif $b.function_call != null then ($b.function_call | _legacy_choice_in)
                           else null end))
  | c::put("parallel_tool_calls"; $b.parallel_tool_calls)
  # pitfall 36: whatever the cap is called, it is the IR max_tokens
  | c::put("max_tokens"; (($b | _num("max_completion_tokens")) // ($b | _num("max_tokens"))))
  | c::put("temperature"; $b | _num("temperature"))
  | c::put("top_p"; $b | _num("top_p"))
  | c::put("seed"; $b | _num("seed"))
  | c::put("presence_penalty"; $b | _num("presence_penalty"))
  | c::put("frequency_penalty"; $b | _num("frequency_penalty"))
  | c::put("n"; $b | _num("n"))
  | c::put("stop"; ($b.stop | if type == "string" then [.] else . end))
  | c::put("reasoning"; ($b.reasoning_effort | if type == "string" then {effort: .} else null end))
  | c::put("response_format"; ($b.response_format | if . == null then null else _response_format_in end))
  | c::put("user"; ($b.safety_identifier // $b.user))
  # Chat's default is no usage chunk: a streaming request says false unless
  # it asked (the IR is explicit so that re-encoding keeps the choice).
  | c::put("stream_usage"; (if $streaming then ([$b.stream_options.include_usage?][0] == true) else null end))
  | (if $ext != {} then setpath(["ext"]; {openai: $ext}) else . end);

# ================================================================== encode

# Did some dialect mark this message/part as `developer` (pitfall 3)?
def _is_developer: any((.ext // {})[]; type == "object" and .role == "developer");

# Text parts -> Chat content: one plain part is a string, anything else an
# array of text parts (with the part-level fields they came with).
def _part_extra: (.ext.openai // {}) | del(.role, .message, .field, .raw_data);
def _text_out: {type: "text", text} + _part_extra;
def _text_content:
  map(select(.type == "text" and (.text | type) == "string"))
  | if length == 1 and (.[0] | _part_extra) == {} then .[0].text
    elif length == 0 then ""
    else map(_text_out) end;

def _media_out:
  . as $p
  | if .type == "image" then
    {type: "image_url",
     image_url: ({url: (if .data != null then du::to_data_url(.media_type // "image/png"; .data) else .url end)}
                 | c::put("detail"; $p.detail))}
    + ($p | _part_extra)
  elif .type == "audio" then {type: "input_audio", input_audio: {data, format}} + _part_extra
  elif .type == "file" then
    if .data == null and .file_id == null and .url != null then
      # Chat has no file-by-URL part (A.2): say where it is instead of
      # dropping it silently (ambiguous; the model cannot open it).
      {type: "text", text: "(file: \(.url))"}
    else
      {type: "file",
       file: ({} | c::put("file_id"; $p.file_id) | c::put("filename"; $p.filename)
              | c::put("file_data"; (if $p.data == null then null
                                     elif $p.ext.openai.raw_data then $p.data
                                     else du::to_data_url($p.media_type // "application/pdf"; $p.data) end)))}
    end
  else empty end;

# User content: text, image, audio, file; opaque parts that came from Chat go
# back verbatim, other dialects' opaque parts are dropped (pitfall 25).
def _user_content:
  if all(.[]; .type == "text") then _text_content
  else [.[] | if .type == "text" then _text_out
              elif .type == "opaque" then (if .dialect == "openai" then .value else empty end)
              else _media_out end]
  end;

def _id: ids::safe_id(40);  # pitfall 11: Chat rejects ids over 40 characters

def _call_out:
  if .kind == "custom" then
    # pitfall 23: the IR holds {"input": <raw text>}
    (.arguments | js::args_object) as $a
    | {id: (.id | _id), type: "custom",
       custom: {name, input: (if ($a.input | type) == "string" then $a.input else .arguments end)}}
  else
    # function and local_shell (declared as a function, pitfall 24)
    {id: (.id | _id), type: "function",
     function: {name, arguments: (.arguments | if type == "string" then . else js::args_text end)}}
  end;

def _assistant_out:
  . as $m
  | [$m.parts[] | select(.type == "text" or .type == "refusal" or (.type == "opaque" and .dialect == "openai"))] as $content
  | [$m.parts[] | select(.type == "tool_call")] as $calls
  | [$content[] | select(.type == "refusal")] as $refusals
  # reasoning: Chat has no field for it (A.1) and no carrier for signatures
  # (pitfall 45), so reasoning from other dialects is dropped. Reasoning that
  # a Chat client sent in reasoning_content/reasoning (ext.openai.field) goes
  # back the same way, for the servers that take it.
  | [$m.parts[] | select(.type == "reasoning" and .ext.openai.field != null)] as $rs
  | {role: "assistant"}
  | (if $rs != [] then .[$rs[0].ext.openai.field] = ($rs | map(.text) | join("")) else . end)
  | if $content == [] then setpath(["content"]; (if $calls == [] then "" else null end))  # pitfall 7
    elif all($content[]; .type == "text") then setpath(["content"]; ($content | _text_content))
    elif ($refusals | length) == 1 and $content[-1].type == "refusal" and all($content[:-1][]; .type == "text") then
      # one trailing refusal: the `refusal` field, as OpenAI itself answers
      setpath(["content"]; ($content[:-1] | if . == [] then null else _text_content end))
      | setpath(["refusal"]; $content[-1].text)
    else
      setpath(["content"]; [$content[] | if .type == "refusal" then {type: "refusal", refusal: .text}
                               elif .type == "opaque" then .value
                               else _text_out end])
    end
  | (if $calls != [] then setpath(["tool_calls"]; [$calls[] | _call_out]) else . end)
  | . + ($m.ext.openai // {});

# A tool message per result (pitfall 13); text only. is_error becomes an
# "Error: " prefix (pitfall 15). Images/files cannot go in a Chat tool
# message: they are returned in `.media` for a user message after the run
# of tool messages (pitfall 14).
def _tool_out($names):
  reduce (.parts[] | select(.type == "tool_result")) as $r ({msgs: [], media: []};
    ($r.content // [] | if type == "string" then [{type: "text", text: .}] else . end) as $content
    | ([$content[] | select(.type == "text")]) as $texts
    | (if $r.is_error then
         if $texts == [] then [{type: "text", text: "Error"}]
         else [$texts[0] | setpath(["text"]; "Error: " + .text)] + $texts[1:] end
       else $texts end) as $texts
    | setpath(["msgs"]; .msgs + ([{role: "tool", tool_call_id: ($r.id | _id), content: ($texts | _text_content)} + ($r.ext.openai // {})]))
    | ($r.name // $names[$r.id // ""] // "") as $name
    | setpath(["media"]; .media + ([$content[] | select(.type == "image" or .type == "file")
                 | {type: "text", text: "(\(.type) returned by tool\(if $name == "" then "" else " " + $name end))"},
                   _media_out])));

def _message_out($names):
  if .role == "user" then
    {role: "user", content: (.parts | _user_content)} + (.ext.openai // {})
  elif .role == "system" then
    {role: (if _is_developer then "developer" else "system" end), content: (.parts | _text_content)}
    + (.ext.openai // {} | del(.role))
  elif .role == "assistant" then _assistant_out
  else empty end;

# Messages, with tool-result media flushed into one user message after each
# run of tool messages.
def _messages_out($names):
  def flush: if .media == [] then . else setpath(["out"]; .out + ([{role: "user", content: .media}])) | setpath(["media"]; []) end;
  reduce .[] as $m ({out: [], media: []};
    if $m.role == "tool" then ($m | _tool_out($names)) as $t | setpath(["out"]; .out + ($t.msgs)) | setpath(["media"]; .media + ($t.media))
    else flush | setpath(["out"]; .out + ([$m | _message_out($names)])) end)
  | flush | .out;

# The system prompt: one leading message per run of parts with the same role
# and message fields (normally exactly one `system` message, pitfall 1).
def _system_out:
  reduce .[] as $p ([];
    {role: (if ($p | _is_developer) then "developer" else "system" end), x: ($p.ext.openai.message // {})} as $k
    | if length > 0 and .[-1].k == $k then .[-1].parts += [$p] else . + [{k: $k, parts: [$p]}] end)
  | map({role: .k.role, content: (.parts | _text_content)} + .k.x);

def _format_out:
  if type == "object" and .type == "grammar" and .grammar == null then
    {type: "grammar", grammar: (del(.type))}
  else . end;

# pitfall 24: Codex's local_shell as a plain function.
def _local_shell_schema:
  {type: "object",
   properties: {command: {type: "array", items: {type: "string"}}, workdir: {type: "string"}, timeout_ms: {type: "integer"}},
   required: ["command"]};

def _tooldef_out:
  if .kind == "hosted" then
    # hosted tools have no Chat equivalent (pitfall 25), except ones a Chat
    # client sent itself
    (if .hosted.dialect == "openai" then .hosted.value else empty end)
  elif .kind == "custom" then
    . as $t
    | {type: "custom", custom: ({name} | c::put("description"; $t.description) | c::put("format"; ($t.format | if . == null then null else _format_out end)))}
  elif .kind == "local_shell" then
    {type: "function", function: {name: (.name // "local_shell"), description: (.description // "Run a shell command."), parameters: _local_shell_schema}}
  else
    . as $t
    | {type: "function",
       function: ({name} | c::put("description"; $t.description) | c::put("parameters"; $t.schema) | c::put("strict"; $t.strict)
                  | . + ($t.ext.openai // {}))}
  end;

def _choice_out($tools):
  def named($n):
    if any($tools[]; .name == $n and .kind == "custom") then {type: "custom", custom: {name: $n}}
    else {type: "function", function: {name: $n}} end;
  if .names != null and .mode != "none" then
    {type: "allowed_tools",
     allowed_tools: {mode: (if .mode == "auto" then "auto" else "required" end), tools: [.names[] as $n | named($n)]}}
  elif .mode == "tool" then named(.name)
  elif .mode == "auto" or .mode == "none" or .mode == "required" then .mode
  else "auto" end;

def _response_format_out:
  if .type == "json_schema" then
    # pitfall 29: Chat needs a name; "response" when the client gave none
    . as $f
    | {type: "json_schema",
       json_schema: ({name: ($f.name // "response")} | c::put("description"; $f.description)
                     | c::put("schema"; $f.schema) | c::put("strict"; $f.strict))}
  else {type} end;

# Model families whose request rules differ (pitfall 39, A.1): OpenAI's
# reasoning models reject non-default sampling and `stop`; its older chat
# models reject `reasoning_effort`. Other upstreams ("compatible" servers)
# get everything. Judged on the model id after any "provider/" prefix.
def _family($model):
  ($model // "" | tostring | split("/") | .[-1] | t::lower_name) as $m
  | if ($m | startswith("gpt-4") or startswith("gpt-3.5") or startswith("chatgpt-") or (startswith("gpt-5") and contains("-chat"))) then "chat"
    elif ($m | startswith("o1") or startswith("o3") or startswith("o4") or startswith("gpt-5")) then "reasoning"
    else "other" end;

def encode($ctx):
  . as $ir
  | _family($ctx.model) as $fam
  # tool names by call id, for the image notes of tool results (pitfall 12)
  | ([$ir.messages[]?.parts[]? | select(.type == "tool_call") | {key: .id, value: .name}] | from_entries) as $names
  | ([($ir.tools // [])[] | _tooldef_out]) as $tools
  | (($ir.ext.openai // {}) | del(.stream_options)) as $x
  | {model: $ctx.model,
     messages: (($ir.system // [] | _system_out) + ($ir.messages // [] | _messages_out($names)))}
  # tool_choice/parallel_tool_calls are refused without tools: drop them when
  # every tool was a hosted one that Chat cannot take
  | (if $tools != [] then setpath(["tools"]; $tools) else . end)
  | (($ir.tools // []) != [] and $tools == []) as $lost
  | c::put("tool_choice"; (if $lost or $ir.tool_choice == null then null else $ir.tool_choice | _choice_out($ir.tools // []) end))
  | c::put("parallel_tool_calls"; (if $lost then null else $ir.parallel_tool_calls end))
  # max_completion_tokens: the documented field; reasoning models reject
  # max_tokens (A.1). Third-party servers that only know max_tokens are the
  # ambiguous cost of this choice.
  | c::put("max_completion_tokens"; $ir.max_tokens)
  | c::put("temperature"; (if $fam == "reasoning" and $ir.temperature != 1 then null else $ir.temperature end))
  | c::put("top_p"; (if $fam == "reasoning" and $ir.top_p != 1 then null else $ir.top_p end))
  | c::put("n"; $ir.n)
  # pitfall 38: at most 4 stop sequences; reasoning models take none (A.1)
  | c::put("stop"; (if $ir.stop == null or $ir.stop == [] or $fam == "reasoning" then null else $ir.stop[:4] end))
  | c::put("seed"; $ir.seed)
  | c::put("presence_penalty"; $ir.presence_penalty)
  | c::put("frequency_penalty"; $ir.frequency_penalty)
  | c::put("response_format"; ($ir.response_format | if . == null then null else _response_format_out end))
  # E.5 / pitfall 43: effort word as is, a budget through the shared table
  | c::put("reasoning_effort"; (if $fam == "chat" then null else ($ir.reasoning // null | if . == null then null else eff::effort_of end) end))
  # `user` rather than `safety_identifier`: every compatible server knows it,
  # and foreign ids (Claude Code's metadata.user_id) exceed the 64 characters
  # safety_identifier allows. When the Chat client sent both, `user` is in ext.
  | (if $ir.user == null then .
     elif $x.user != null then setpath(["safety_identifier"]; $ir.user)
     else setpath(["user"]; $ir.user) end)
  # Responses clients (Codex) key the prompt cache per conversation; Chat has
  # the same field (A.1).
  | c::put("prompt_cache_key"; (if $x.prompt_cache_key == null then ($ir.ext.responses.prompt_cache_key? // null) else null end))
  | c::put("stream"; $ir.stream)
  # Streaming upstream: always ask for the usage chunk so that usage can be
  # reported to the client whatever its dialect (pitfall 56); a Chat client's
  # explicit choice (stream_usage) is kept.
  | (if $ir.stream == true then
       setpath(["stream_options"]; (($ir.ext.openai.stream_options // {}) + {include_usage: (if $ir.stream_usage == null then true else $ir.stream_usage end)}))
     elif $ir.ext.openai.stream_options != null then setpath(["stream_options"]; $ir.ext.openai.stream_options)
     else . end)
  | . + $x;

# Same dialect: nothing is translated, only the model name (README).
def passthrough($ctx):
  if type != "object" then _fail("body"; "must be a JSON object") else setpath(["model"]; $ctx.model) end;
