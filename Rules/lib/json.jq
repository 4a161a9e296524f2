# JSON text <-> values, for tool arguments (pitfall 16).
#
# Chat and Responses carry tool arguments as JSON *text* (which the model may
# have got wrong); Claude and Gemini carry an object. The IR keeps the text.

import "lib/text" as t;

# Text -> object. Empty or blank text is a call without arguments: {}.
# Text that does not parse to an object is kept, recoverable, under
# "_raw_arguments" so that nothing the model said is lost and the upstream never
# receives a string where it expects an object.
def args_object:
  if type != "string" then (if type == "object" then . else {} end)
  elif . == "" then {}
  else ([try fromjson catch null] | .[0]) as $v
    | if ($v | type) == "object" then $v
      # only text that failed to parse is checked for blankness
      elif (t::nonblank | not) then {}
      else {"_raw_arguments": .} end
  end;

# Object -> text: compact, key order preserved. An object that only holds
# "_raw_arguments" turns back into the text it came from.
def args_text:
  if type == "object" and (keys == ["_raw_arguments"]) then ._raw_arguments
  elif type == "string" then .
  elif . == null then "{}"
  else tojson end;
