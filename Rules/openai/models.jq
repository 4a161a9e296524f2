# OpenAI model list (GET /v1/models, GET /v1/models/{id}; wire-formats A.6,
# pitfall 64). README "models.jq":
#   encode($ctx)      {models: [ModelInfo]} -> {"object":"list","data":[Model]}
#   encode_one($ctx)  ModelInfo -> Model
# ModelInfo = {id, owned_by, created (unix s), display_name?,
# input_token_limit?, output_token_limit?}; the Model object has no slot for
# the display name or the limits, so they are dropped.

# Model = {id, object, created, owned_by}, all four required by openai-python.
# Defaults for a ModelInfo that lacks them: created 0 (the epoch, "unknown"),
# owned_by "cliproxy" (the proxy is who serves it).
def encode_one($ctx):
  if (.id | type) != "string" or .id == "" then error("id: field required") else . end
  # pitfall 64/65: ids are bare; a Gemini-style "models/" prefix is dropped
  | {id: (.id | ltrimstr("models/")), object: "model",
     created: (.created | if type == "number" then floor else 0 end),
     owned_by: (.owned_by | if type == "string" then . else "cliproxy" end)};

# One page with everything: the API has no pagination in practice (A.6).
def encode($ctx):
  {object: "list", data: [(.models // [])[] | encode_one($ctx)]};
