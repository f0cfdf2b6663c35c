#ifndef CNS_CPCSC_H
#define CNS_CPCSC_H
#include <PCSC/winscard.h>
#include <PCSC/wintypes.h>
#include <PCSC/reader.h>
#endif
