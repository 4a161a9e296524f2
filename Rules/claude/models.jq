# Anthropic model list (GET /v1/models, GET /v1/models/{id}; wire-formats C.8,
# providers.md 12.4, pitfall 64). README "models.jq":
#   encode($ctx)      {models: [ModelInfo]} -> {data, has_more, first_id, last_id}
#   encode_one($ctx)  ModelInfo -> ModelInfo object

# {type, id, display_name, created_at, lifecycle}, plus max_input_tokens /
# max_tokens when the limits are known.
#   display_name  required by the SDK; the id when none is given.
#   created_at    RFC 3339 from unix seconds (`todate`: "...T...Z"); the
#                 epoch when unknown.
#   lifecycle     anthropic-python 2.14 declares it required (C.8); a model
#                 the proxy serves is "active".
def encode_one($ctx):
  if (.id | type) != "string" or .id == "" then error("id: field required") else . end
  # pitfall 64/65: ids are bare; a Gemini-style "models/" prefix is dropped
  | (.id | ltrimstr("models/")) as $id
  | {type: "model", id: $id,
     display_name: (if (.display_name | type) == "string" and .display_name != "" then .display_name else $id end),
     created_at: (.created | if type == "number" then floor else 0 end | todate),
     lifecycle: "active"}
    + (if (.input_token_limit | type) == "number" then {max_input_tokens: .input_token_limit} else {} end)
    + (if (.output_token_limit | type) == "number" then {max_tokens: .output_token_limit} else {} end);

# One page with everything (has_more false): cursor parameters (limit,
# after_id, before_id) are not applied; clients that follow has_more stop
# after this page. first_id / last_id are null for an empty list, as the
# SDK's page type allows.
def encode($ctx):
  [(.models // [])[] | encode_one($ctx)] as $data
  | {data: $data, has_more: false, first_id: ($data[0].id // null), last_id: ($data[-1].id // null)};
