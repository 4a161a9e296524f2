# Gemini token counting (POST /v1beta/models/{model}:countTokens, wire-formats
# D.6; providers.md section 2; pitfall 66). README "count.jq":
#   encode($ctx)        IR request -> countTokens body for a Gemini upstream
#   decode($ctx)        countTokens reply -> {input_tokens}
#   encode_reply($ctx)  {input_tokens, estimated?} -> a Gemini client's reply

import "gemini/request" as req;

# The generateContentRequest form, not the bare {contents} form: only that
# one counts the system instruction and the tools (D.6, providers.md 2,
# "Recommend"). The two forms are mutually exclusive.
# The inner request is the generateContent body the same request would get
# (turn merging, result pairing, placeholders: pitfalls 6, 7, 13), keeping
# the fields that are input: contents, systemInstruction, tools. Left out:
#   generationConfig  (sampling, thinking, response schema: settings, not
#                      prompt; a schema the counter might validate differently
#                      would turn a count into a 400),
#   toolConfig        (which tool may be called: not input),
#   safetySettings, cachedContent and other ext.gemini fields (cachedContent
#                      would need the cache to exist for this key; ambiguous,
#                      the count then covers the request's own contents only).
# `model` carries the "models/" prefix here (D.6, pitfall 65), unlike the
# URL's {model}; a leading "models/" in $ctx.model is not doubled.
def encode($ctx):
  req::encode($ctx)
  | {generateContentRequest:
      ({model: ("models/" + ($ctx.model // "" | tostring | ltrimstr("models/"))), contents: .contents}
       + (if .systemInstruction != null then {systemInstruction: .systemInstruction} else {} end)
       + (if .tools != null then {tools: .tools} else {} end))};

# {"totalTokens":N,"cachedContentTokenCount"?,"promptTokensDetails"?} (D.6).
# Gemini's JSON omits zero values (proto3), so an object without totalTokens
# counts 0 rather than failing.
def decode($ctx):
  if type != "object" then error("body: must be a JSON object")
  elif .totalTokens == null then {input_tokens: 0}
  elif (.totalTokens | type) != "number" then error("totalTokens: must be a number")
  else {input_tokens: .totalTokens} end;

# Just {"totalTokens":N} (pitfall 66; the Code Assist countTokens answers the
# same). No promptTokensDetails: google-genai 3.6's CountTokensResponse has
# no such field (its converter keeps only totalTokens and
# cachedContentTokenCount), and for an estimate or a count from another
# vendor a per-modality split would be invented.
def encode_reply($ctx):
  if (.input_tokens | type) != "number" then error("input_tokens: field required")
  else {totalTokens: (.input_tokens | floor)} end;

# countTokens bodies are `{contents}` or `{generateContentRequest: {…}}` (D.6).
def decode_request($ctx): (if .generateContentRequest != null then .generateContentRequest | del(.model) else . end) | req::decode($ctx);
