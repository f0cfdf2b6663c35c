#ifndef CNS_CXMLSEC_SHIMS_H
#define CNS_CXMLSEC_SHIMS_H
// One named function for every libxml2 / xmlsec macro the Swift side needs:
// CXMLSecShims_<original name>. No logic beyond the macro itself.
#include "CXMLSecConfig.h"
#include <libxml/xmlmemory.h>
#include <xmlsec/xmlsec.h>
#include <xmlsec/transforms.h>

int CXMLSecShims_xmlSecCheckVersion(void);
void CXMLSecShims_xmlFree(void *pointer);

xmlSecTransformId CXMLSecShims_xmlSecTransformEnvelopedId(void);
xmlSecTransformId CXMLSecShims_xmlSecTransformExclC14NId(void);
xmlSecTransformId CXMLSecShims_xmlSecTransformInclC14NId(void);
xmlSecTransformId CXMLSecShims_xmlSecTransformInclC14N11Id(void);

xmlSecTransformId CXMLSecShims_xmlSecOpenSSLTransformSha256Id(void);
xmlSecTransformId CXMLSecShims_xmlSecOpenSSLTransformSha384Id(void);
xmlSecTransformId CXMLSecShims_xmlSecOpenSSLTransformSha512Id(void);
xmlSecTransformId CXMLSecShims_xmlSecOpenSSLTransformRsaSha256Id(void);
xmlSecTransformId CXMLSecShims_xmlSecOpenSSLTransformRsaSha384Id(void);
xmlSecTransformId CXMLSecShims_xmlSecOpenSSLTransformRsaSha512Id(void);
xmlSecTransformId CXMLSecShims_xmlSecOpenSSLTransformEcdsaSha256Id(void);
xmlSecTransformId CXMLSecShims_xmlSecOpenSSLTransformEcdsaSha384Id(void);
xmlSecTransformId CXMLSecShims_xmlSecOpenSSLTransformEcdsaSha512Id(void);
#endif
