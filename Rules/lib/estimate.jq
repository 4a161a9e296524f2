# A local estimate of the input tokens of an IR request, for count-tokens
# calls whose upstream has no count endpoint (OpenAI Chat, pitfall 66) or
# whose count failed. README "count.jq" / "models.jq".
#   estimate_tokens   IR request -> {input_tokens: N, estimated: true}
#
# The heuristic (deterministic, no tokenizer; meant to be within tens of
# percent for English and code, never exact):
#   tokens = ceil(B / 4) + 4 per message (+ 4 for a system prompt)
# where B is the UTF-8 byte count of every text the model reads:
#   system text; message text, reasoning text and refusals; tool calls'
#   name + arguments (JSON text); tool results' text (and name when known);
#   opaque parts as their JSON; every tool's name, description, JSON schema
#   (as compact JSON text), custom-tool grammar and hosted definition; the
#   response_format schema (structured output is prompt too).
# Fixed costs are added to B as 4 bytes per token, so one division ends it:
#   image                    258 tokens (Gemini's count for an image up to
#                            384 px a side; Claude's and OpenAI's counts grow
#                            with the size, which would need decoding the image)
#   file with inline data    1 token per 4 decoded bytes (exact for text
#                            files, the same order of magnitude for PDFs)
#   file by URL or file id   258 tokens (size unknown: one image's worth)
#   audio                    1 token per 500 decoded bytes (Gemini's 32 tokens a
#                            second at 128 kbit/s; the format is not read)
# UTF-8 bytes rather than characters: 4 ASCII characters make about one
# token, while CJK text (3 bytes a character) makes about one token per one
# or two characters; bytes / 4 lands closer for both than characters / 4.
# Signatures (thinking signatures, encrypted reasoning) are not counted:
# vendors do not bill them as prompt text.
#
# Cost: one pass over the parts, `utf8bytelength`/`length` of strings (C, no
# copies), `tojson` only for schemas and opaque values; no regex, no explode.

def _per_message: 4;
def _per_image: 258;
def _bytes_per_audio_token: 500;

# a fixed token count, in the byte units summed below
def _tok($n): $n * 4;
def _bytes: if type == "string" then utf8bytelength else 0 end;
def _json_bytes: if . == null then 0 else tojson | utf8bytelength end;
# decoded size of base64 text
def _b64_size: if type == "string" then length * 3 / 4 else 0 end;

def _media:
  if .type == "image" then _tok(_per_image)
  elif .type == "file" then
    (.filename | _bytes)
    + (if (.data | type) == "string" then (.data | _b64_size) else _tok(_per_image) end)
  elif .type == "audio" then _tok((.data | _b64_size) / _bytes_per_audio_token)
  else 0 end;

# parts of a tool result: text, image, file
def _leaf:
  if .type == "text" then (.text | _bytes) else _media end;

def _part:
  if .type == "text" or .type == "reasoning" or .type == "refusal" then (.text | _bytes)
  elif .type == "tool_call" then (.name | _bytes) + (.arguments | _bytes)
  elif .type == "tool_result" then reduce (.content // [])[] as $p ((.name | _bytes); . + ($p | _leaf))
  elif .type == "opaque" then (.value | _json_bytes)
  else _media end;

def _tool:
  (.name | _bytes) + (.description | _bytes) + (.schema | _json_bytes)
  + (.format | _json_bytes) + (.hosted.value | _json_bytes);

def estimate_tokens:
  (reduce (.system // [])[] as $p (0; . + ($p | _part))) as $system
  | (reduce (.messages // [])[].parts[]? as $p (0; . + ($p | _part))) as $messages
  | (reduce (.tools // [])[] as $t (0; . + ($t | _tool))) as $tools
  | (.response_format.schema | _json_bytes) as $format
  | ((.messages // []) | length) as $n
  | (if ($system > 0) then 1 else 0 end) as $sys_msg
  | {input_tokens: ((($system + $messages + $tools + $format) / 4 | ceil) + _per_message * ($n + $sys_msg)),
     estimated: true};
