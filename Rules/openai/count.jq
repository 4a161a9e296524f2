# OpenAI Chat Completions has no token-counting endpoint (pitfall 66, A).
# The module exists so that the contract is complete and the failure says
# why: as an upstream, the server estimates with lib/estimate.jq instead of
# calling encode/decode; as a client dialect there is no route to answer.
#   encode($ctx)        always an error
#   decode($ctx)        always an error
#   encode_reply($ctx)  always an error

def encode($ctx): error("count tokens: OpenAI Chat has no count-tokens endpoint");

def decode($ctx): error("count tokens: OpenAI Chat has no count-tokens endpoint");

def encode_reply($ctx): error("count tokens: not an OpenAI Chat endpoint");

def decode_request($ctx): error("count tokens: not an OpenAI Chat endpoint");
