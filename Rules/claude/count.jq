# Anthropic token counting (POST /v1/messages/count_tokens, wire-formats C.7;
# pitfall 66). README "count.jq":
#   encode($ctx)        IR request -> count_tokens body for an Anthropic upstream
#   decode($ctx)        count_tokens reply -> {input_tokens}
#   encode_reply($ctx)  {input_tokens, estimated?} -> a Claude client's reply

import "claude/request" as req;

# The fields count_tokens takes (C.7: model, messages, system, tools,
# tool_choice, thinking, output_config), plus the other top-level fields
# anthropic-python 2.14's MessageCountTokensParams declares; those can only
# come from a Claude client's ext.claude. Everything else the Messages
# encoder writes (max_tokens, stream, temperature, top_p, top_k,
# stop_sequences, metadata, container, service_tier, ...) is a generation
# setting that count_tokens does not take (the SDK type has no such key).
def _count_fields:
  ["model", "messages", "system", "tools", "tool_choice", "thinking", "output_config",
   "cache_control", "speed", "user_profile_id", "workspace_id"];

# The body is the Messages body the same request would get, cut down, so
# the count matches what would be sent: the encoder's merging, tool-result
# pairing and placeholder tools (pitfalls 5, 13) and its thinking decision
# (pitfalls 19, 46) are token-relevant. `n` is dropped first: the Messages
# encoder refuses n > 1 (pitfall 41), which says nothing about the input.
def encode($ctx):
  del(.n)
  | req::encode($ctx)
  | . as $body
  | reduce (_count_fields[] as $k | select($body | has($k)) | $k) as $k ({}; setpath([$k]; $body[$k]));

def decode($ctx):
  if type != "object" then error("body: must be a JSON object")
  elif (.input_tokens | type) != "number" then error("input_tokens: field required")
  else {input_tokens: .input_tokens} end;

# MessageTokensCount is exactly {input_tokens}; an estimate has no slot to
# say so (the flag is dropped; the server may say it in a header).
def encode_reply($ctx):
  if (.input_tokens | type) != "number" then error("input_tokens: field required")
  else {input_tokens: (.input_tokens | floor)} end;

# A count_tokens body has no max_tokens (C.7), which the Messages decoder
# requires (C.1): the count only needs the IR, so a cap is supplied.
def decode_request($ctx): (if .max_tokens == null then .max_tokens = 1 else . end) | req::decode($ctx);
