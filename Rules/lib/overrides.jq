# Settings the server asks for on top of what the client sent, applied to
# the IR just before any dialect encodes it. They come from provider data,
# never from Swift: a model alias such as `gpt-5-minimal` (Rules/providers/
# codex.json `model_aliases`) resolves to the base model plus a reasoning
# effort, which reaches the rules as `$ctx.reasoning`.

# The alias wins over whatever effort or budget the client set (the user
# chose the alias on purpose, e.g. ANTHROPIC_SMALL_FAST_MODEL=gpt-5-minimal);
# the client's other reasoning settings (summary, include_thoughts) stay.
def request($ctx):
  if $ctx.reasoning == null then .
  else .reasoning = (((.reasoning // {}) | del(.effort, .budget, .adaptive)) + $ctx.reasoning)
  end;
