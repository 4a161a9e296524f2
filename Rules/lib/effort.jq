# Reasoning effort <-> thinking budget <-> thinking level (table E.5 of the
# wire-format reference; there is no official cross-vendor mapping, these are
# our choices, one table for every dialect).

import "lib/text" as t;

# Budget for an effort word, per target family.
def budget_for_effort($family):
  if $family == "claude" then
    {none: 0, minimal: 1024, low: 2048, medium: 8192, high: 16384, xhigh: 32000, max: 32000}[.]
  else # gemini 2.5 thinkingBudget; -1 = dynamic for the open-ended top efforts
    {none: 0, minimal: 512, low: 1024, medium: 8192, high: 24576, xhigh: -1, max: -1}[.]
  end;

# Effort word for a token budget (the reverse direction of E.5).
def effort_for_budget:
  if . == null then null
  elif . == 0 then "none"
  elif . < 0 then "medium"
  elif . < 1024 then "minimal"
  elif . <= 2048 then "low"
  elif . <= 8192 then "medium"
  else "high" end;

# Gemini 3 thinkingLevel for an effort word. Gemini 3 Pro only knows LOW and
# HIGH; Flash knows MINIMAL/LOW/MEDIUM/HIGH. Thinking cannot be turned off on
# Gemini 3, so "none" becomes the floor.
def level_for_effort($pro):
  if $pro then {none: "LOW", minimal: "LOW", low: "LOW", medium: "HIGH", high: "HIGH", xhigh: "HIGH", max: "HIGH"}[.]
  else {none: "MINIMAL", minimal: "MINIMAL", low: "LOW", medium: "MEDIUM", high: "HIGH", xhigh: "HIGH", max: "HIGH"}[.] end;

def effort_for_level:
  t::lower_name | if . == "thinking_level_unspecified" then null else . end;

# The IR reasoning object's effort, whichever way the client expressed it.
def effort_of: if .effort then .effort elif .budget != null then (.budget | effort_for_budget) else null end;
