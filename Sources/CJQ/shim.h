// libjq 1.6 from Debian's libjq-dev (no pkg-config file, no static library).
#include <jq.h>
#include <jv.h>
