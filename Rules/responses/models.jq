# OpenAI Responses clients list models with the same API as Chat clients
# (GET /v1/models, wire-formats A.6, pitfall 64): the OpenAI shape.
#   encode($ctx)      {models: [ModelInfo]} -> {"object":"list","data":[Model]}
#   encode_one($ctx)  ModelInfo -> Model

import "openai/models" as m;

def encode_one($ctx): m::encode_one($ctx);

def encode($ctx): m::encode($ctx);
