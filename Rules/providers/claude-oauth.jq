# Claude subscription accounts (Anthropic OAuth): the same Messages API as
# API keys, with two conditions Anthropic sets for OAuth tokens
# (providers.md 5.2, 5.3). claude.json names this module in its `account`
# section only, so API-key requests never pass through it.

def _identity: "You are Claude Code, Anthropic's official CLI for Claude.";

# Is this system block already the identity? Claude Code sends it as its
# first block, and the Agent SDK a longer sentence with the same opening;
# either counts, so it is never added twice (5.3).
def _is_identity:
  type == "object" and .type == "text" and ((.text // "") | tostring | startswith("You are Claude Code, Anthropic's official CLI for Claude"));

# 5.3: OAuth tokens are accepted only for requests whose first system block
# is the identity. It goes first; the client's system prompt follows
# unchanged (a string becomes one text block; an empty one adds nothing:
# Anthropic refuses empty text blocks). The body's `betas` is not a Messages
# field (5.2): its values move to the header (`headers` below) and it is
# deleted here.
def request($ctx):
  (.system | if . == null or . == "" then []
             elif type == "string" then [{type: "text", text: .}]
             elif type == "array" then .
             else [.] end) as $system
  | (if ($system | length) > 0 and ($system[0] | _is_identity) then $system
     else [{type: "text", text: _identity}] + $system end) as $system
  | setpath(["system"]; $system)
  | del(.betas);

# A comma-separated header value or a JSON list -> names, trimmed, no blanks.
def _names:
  if type == "string" then split(",") elif type == "array" then . else [] end
  | map(strings | sub("^\\s+"; "") | sub("\\s+$"; "") | select(. != ""));

# anthropic-beta (5.2): the client's header, then the body's `betas`, then
# what OAuth needs — oauth-2025-04-20 (without it the token is refused with
# 401) and interleaved-thinking-2025-05-14 (5.2: "make sure it is present")
# — each name once, in that order.
# A client that names no beta at all gets the list the early reference
# always sent: claude-code-20250219 plus the two required ones. Of 5.2's
# mature default list, the others change what comes back (redacted
# thinking, context-management edits of the history, fast mode,
# structured outputs) or how it is cached and billed; a client that wants
# them asks by name, and gets exactly that.
def headers($ctx):
  ($ctx.headers["anthropic-beta"] | _names) as $client
  | (.betas | _names) as $body
  | (if $client == [] and $body == [] then ["claude-code-20250219"] else $client + $body end)
    + ["oauth-2025-04-20", "interleaved-thinking-2025-05-14"]
  | reduce .[] as $b ([]; if any(.[]; . == $b) then . else . + [$b] end)
  | {"anthropic-beta": join(",")};

# Counting tokens is a call with the same OAuth token, held to the same
# condition (5.3): the identity block goes first there too, so the count
# includes it, as it does for every message sent.
def count_request($ctx): request($ctx);
