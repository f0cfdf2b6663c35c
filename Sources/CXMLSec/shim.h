#ifndef CNS_CXMLSEC_H
#define CNS_CXMLSEC_H
// libxml2 and xmlsec (OpenSSL backend), as pkg-config xmlsec1-openssl describes them.
// The configuration defines come first: see CXMLSecConfig.h for why they are not left to
// pkg-config.
#include "../CXMLSecShims/include/CXMLSecConfig.h"
#include <libxml/tree.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/xmlerror.h>
#include <libxml/valid.h>
#include <xmlsec/xmlsec.h>
#include <xmlsec/errors.h>
#include <xmlsec/xmltree.h>
#include <xmlsec/xmldsig.h>
#include <xmlsec/transforms.h>
#include <xmlsec/keys.h>
#include <xmlsec/list.h>
#include <xmlsec/openssl/app.h>
#include <xmlsec/openssl/crypto.h>
#endif
