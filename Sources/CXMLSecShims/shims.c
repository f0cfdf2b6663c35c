#include "CXMLSecShims.h"
#include <xmlsec/openssl/crypto.h>

int CXMLSecShims_xmlSecCheckVersion(void) { return xmlSecCheckVersion(); }
void CXMLSecShims_xmlFree(void *pointer) { xmlFree(pointer); }

xmlSecTransformId CXMLSecShims_xmlSecTransformEnvelopedId(void) { return xmlSecTransformEnvelopedId; }
xmlSecTransformId CXMLSecShims_xmlSecTransformExclC14NId(void) { return xmlSecTransformExclC14NId; }
xmlSecTransformId CXMLSecShims_xmlSecTransformInclC14NId(void) { return xmlSecTransformInclC14NId; }
xmlSecTransformId CXMLSecShims_xmlSecTransformInclC14N11Id(void) { return xmlSecTransformInclC14N11Id; }

xmlSecTransformId CXMLSecShims_xmlSecOpenSSLTransformSha256Id(void) { return xmlSecOpenSSLTransformSha256Id; }
xmlSecTransformId CXMLSecShims_xmlSecOpenSSLTransformSha384Id(void) { return xmlSecOpenSSLTransformSha384Id; }
xmlSecTransformId CXMLSecShims_xmlSecOpenSSLTransformSha512Id(void) { return xmlSecOpenSSLTransformSha512Id; }
xmlSecTransformId CXMLSecShims_xmlSecOpenSSLTransformRsaSha256Id(void) { return xmlSecOpenSSLTransformRsaSha256Id; }
xmlSecTransformId CXMLSecShims_xmlSecOpenSSLTransformRsaSha384Id(void) { return xmlSecOpenSSLTransformRsaSha384Id; }
xmlSecTransformId CXMLSecShims_xmlSecOpenSSLTransformRsaSha512Id(void) { return xmlSecOpenSSLTransformRsaSha512Id; }
xmlSecTransformId CXMLSecShims_xmlSecOpenSSLTransformEcdsaSha256Id(void) { return xmlSecOpenSSLTransformEcdsaSha256Id; }
xmlSecTransformId CXMLSecShims_xmlSecOpenSSLTransformEcdsaSha384Id(void) { return xmlSecOpenSSLTransformEcdsaSha384Id; }
xmlSecTransformId CXMLSecShims_xmlSecOpenSSLTransformEcdsaSha512Id(void) { return xmlSecOpenSSLTransformEcdsaSha512Id; }
