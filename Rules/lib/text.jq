# Text tests and case folding that stay linear on client-sized strings.
#
# jq 1.6 defines ascii_downcase and ascii_upcase in jq itself (explode, map,
# implode) and `explode` builds an array of every code point: about 0.8 s of
# CPU per MB of string, on a rule thread every other request waits for
# (docs/RELIABILITY.md, "Fuzzing"). Values worth case-folding or testing
# character by character are short; a long one is passed on as it came, for
# the upstream to refuse.

# Case-folded, when short enough to be a name (a schema type, a level, a
# model id); longer strings unchanged.
def lower_name: if length <= 256 then ascii_downcase else . end;
def upper_name: if length <= 256 then ascii_upcase else . end;

# Whether a string holds a character other than space, tab, CR or LF. The
# first character decides almost every string; the rest is one regex scan
# in C (jq 1.6 compiles a regex on every call, ~20 µs, hence the fast path).
def nonblank:
  length > 0
  and ((.[0:1] | . != " " and . != "\t" and . != "\n" and . != "\r") or test("[^ \t\n\r]"));
