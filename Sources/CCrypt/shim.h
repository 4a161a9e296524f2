// libxcrypt (Debian libcrypt-dev): crypt_rn and crypt_gensalt_rn, for the management key's bcrypt hash.
#include <crypt.h>
