// The system libpq (Debian libpq-dev). No code here: only the header.
#include <libpq-fe.h>
