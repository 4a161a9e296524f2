# OpenAI Responses token counting (POST /v1/responses/input_tokens,
# wire-formats B.6 end; pitfall 66). README "count.jq":
#   encode($ctx)        IR request -> input_tokens body for a Responses upstream
#   decode($ctx)        input_tokens reply -> {input_tokens}
#   encode_reply($ctx)  {input_tokens, estimated?} -> a Responses client's reply

import "responses/request" as req;

# "Same body as create" (B.6), but the endpoint's own parameter list is
# shorter: openai-python 3.57's InputTokenCountParams declares conversation,
# input, instructions, model, parallel_tool_calls, personality,
# previous_response_id, reasoning, text, tool_choice, tools, truncation.
# The create encoder's other fields (stream, store, include,
# max_output_tokens, temperature, top_p, safety_identifier, ...) are
# generation settings, dropped so that a strict server does not answer
# "unknown parameter". conversation / previous_response_id never come out of
# the encoder (the proxy keeps no server state).
def _count_fields:
  ["model", "input", "instructions", "tools", "tool_choice", "parallel_tool_calls",
   "reasoning", "text", "truncation", "personality"];

def encode($ctx):
  req::encode($ctx)
  | . as $body
  | reduce (_count_fields[] as $k | select($body | has($k)) | $k) as $k ({}; setpath([$k]; $body[$k]));

def decode($ctx):
  if type != "object" then error("body: must be a JSON object")
  elif (.input_tokens | type) != "number" then error("input_tokens: field required")
  else {input_tokens: .input_tokens} end;

# InputTokenCountResponse = {object: "response.input_tokens", input_tokens};
# an estimate has no slot to say so.
def encode_reply($ctx):
  if (.input_tokens | type) != "number" then error("input_tokens: field required")
  else {object: "response.input_tokens", input_tokens: (.input_tokens | floor)} end;

# /v1/responses/input_tokens takes the body of a create call (B.6).
def decode_request($ctx): req::decode($ctx);
