# Wire fields a dialect keeps in the IR's `ext` slot (README "Ext").

# The fields of an object outside $known, or null when there are none.
# The fast check comes first: most wire objects carry only known fields, and
# `keys_unsorted - $known` runs in C, while `del` or `with_entries` over every
# object measured three to four times the cost in jq 1.6 (docs/BENCHMARKS.md).
def rest($known):
  if (keys_unsorted - $known) == [] then null else del(.[$known[]]) end;
