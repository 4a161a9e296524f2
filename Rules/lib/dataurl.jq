# data: URLs <-> {media_type, data} (pitfall 31).

# "data:image/png;base64,iVBOR..." -> {media_type: "image/png", data: "iVBOR..."};
# null when the string is not a base64 data URL.
def parse_data_url:
  if type == "string" and startswith("data:") then
    (index(",")) as $comma
    | if $comma == null then null
      else (.[5:$comma]) as $head
        | if ($head | endswith(";base64")) then
            {media_type: ($head | rtrimstr(";base64") | if . == "" then "application/octet-stream" else . end),
             data: .[$comma + 1:]}
          else null end
      end
  else null end;

def to_data_url($media_type; $data): "data:\($media_type // "application/octet-stream");base64,\($data)";

# Best guess of an image's media type from a URL's file extension, for
# dialects that need one next to a URL (Gemini fileData). Unknown -> image/jpeg
# (ambiguous: the URL may lie either way; jpeg is the commonest on the web).
def media_type_from_url:
  # only the last five characters decide (".webp"): folding a whole data-sized
  # URL would cost seconds in jq 1.6 (lib/text.jq)
  (split("?")[0] | split("#")[0] | .[-5:] | ascii_downcase) as $p
  | if ($p | endswith(".png")) then "image/png"
    elif ($p | endswith(".gif")) then "image/gif"
    elif ($p | endswith(".webp")) then "image/webp"
    elif ($p | endswith(".heic")) then "image/heic"
    elif ($p | endswith(".heif")) then "image/heif"
    elif ($p | endswith(".pdf")) then "application/pdf"
    else "image/jpeg" end;
