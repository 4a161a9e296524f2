# Deterministic ids (pitfall 11). Rules never invent randomness: every id they
# make comes from $ctx (request_id, id_seed) or from a hash of an existing id.

# A 10-character base-36 hash of a string. Two 31-bit polynomial hashes: jq
# numbers are doubles, so every intermediate stays below 2^53 and exact.
def _b36: if . == 0 then "0" else [recurse(if . >= 36 then (. / 36 | floor) else empty end) % 36]
  | reverse | map("0123456789abcdefghijklmnopqrstuvwxyz"[.:.+1]) | join("") end;
# A string longer than 256 characters is hashed by its first and last 128
# and its length: `explode` and two reductions over megabytes cost seconds
# of a rule thread (no real id is that long; the hash stays deterministic).
def short_hash:
  (if length > 256 then .[0:128] + .[-128:] + (length | tostring) else . end | explode) as $cs
  | (reduce $cs[] as $c (5381; (. * 33 + $c) % 2147483647)) as $h1
  | (reduce $cs[] as $c (7; (. * 131 + $c) % 2147483629)) as $h2
  | (($h1 | _b36) + ($h2 | _b36)) | .[0:10];

# An id usable in every dialect: [A-Za-z0-9_-], at most $max characters
# (Chat rejects tool-call ids over 40). Ids that already fit pass unchanged, so
# the tool result the client sends back maps to the same id with no state.
def safe_id($max):
  if type != "string" or . == "" then "call_empty"
  elif length <= $max and test("^[A-Za-z0-9_-]+$") then .
  # Cut before gsub (each match is one character, so the result is the same):
  # jq 1.6's gsub rebuilds the string once per match, and a 2 MB id of
  # punctuation took minutes and gigabytes before it was cut first.
  else "call_" + short_hash + "_" + (.[0:($max - 16)] | gsub("[^A-Za-z0-9_-]"; "_")) end;
def safe_id: safe_id(40);

# The id of the n-th tool call a rule must invent.
def invented_call_id($ctx; $n): "call_\($ctx.id_seed)_\($n)";
