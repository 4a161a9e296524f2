# Gemini model list (GET /v1beta/models, GET /v1beta/models/{model};
# wire-formats D.6, providers.md 12.4, pitfalls 64, 65). README "models.jq":
#   encode($ctx)      {models: [ModelInfo]} -> {"models":[Model]}
#   encode_one($ctx)  ModelInfo -> Model

# Token limits for a ModelInfo without them (pitfall 64: a Gemini client
# expects both). A floor every served model meets (Claude 200k/8k and up,
# GPT-4o 128k/16k, Gemini 1M/64k), so that a client that sizes its requests
# by these numbers never overflows whichever upstream serves the id; the
# cost is that such a client may trim history earlier than it had to.
def _default_input_limit: 128000;
def _default_output_limit: 8192;

# Every model answers generateContent (and its stream) and countTokens: the
# proxy estimates when the upstream cannot count (lib/estimate.jq).
def _methods: ["generateContent", "countTokens"];

# name carries the "models/" prefix (pitfall 65); an id that already has it
# is not doubled. displayName defaults to the id. `description`, `version`
# and the sampling defaults are left out: the proxy does not know them.
def encode_one($ctx):
  if (.id | type) != "string" or .id == "" then error("id: field required") else . end
  | (.id | ltrimstr("models/")) as $id
  | {name: ("models/" + $id),
     displayName: (if (.display_name | type) == "string" and .display_name != "" then .display_name else $id end),
     inputTokenLimit: (.input_token_limit | if type == "number" then . else _default_input_limit end),
     outputTokenLimit: (.output_token_limit | if type == "number" then . else _default_output_limit end),
     supportedGenerationMethods: _methods};

# One page with everything: no nextPageToken.
def encode($ctx):
  {models: [(.models // [])[] | encode_one($ctx)]};
