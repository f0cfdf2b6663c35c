// The system SQLite (Debian libsqlite3-dev). No code here: only the header.
#include <sqlite3.h>
