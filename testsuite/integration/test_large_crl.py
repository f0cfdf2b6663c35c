"""A CRL at a large issuer's size (1,000,000 entries, 27 MB of DER) through the real daemon:
it is held compact (signed DER and a serial table), answers for the cards it lists and the
ones it does not, and reloads with new content neither grow the process nor, while the old
and the new CRL both exist, take it past twice its steady state."""

from cryptography import x509
from cryptography.hazmat.primitives import serialization

import bigcrl
from harness import whoami

ENTRIES = 1_000_000


def _write_big_crl(pki, path, revoke, seed, pem):
    root = pki.ca("root1")
    with open(root["cert_pem"], "rb") as handle:
        cert = x509.load_pem_x509_certificate(handle.read())
    with open(root["key"], "rb") as handle:
        key = serialization.load_pem_private_key(handle.read(), password=None)
    der = bigcrl.build(cert, key, ENTRIES, revoke, seed=seed)
    with open(path, "wb") as handle:
        handle.write(bigcrl.to_pem(der) if pem else der)
    return path


def test_a_million_entry_crl_revokes_and_reloads_without_growing(pki, fresh_gateways, tmp_path):
    listed = pki.citizen("ok2")["serial"]
    big = _write_big_crl(pki, str(tmp_path / "root1-big.crl"), [listed], seed=1, pem=False)
    gateway = fresh_gateways.new("large-crl")
    others = [ca for ca in pki.manifest["trusted_cas"] if ca != "root1"] + ["intermediate"]
    gateway.install_trust(crl_cas=others, crl_files=[big])
    gateway.start(timeout=60)
    assert whoami(pki, gateway, "ok2")["verdict"]["reason"] == "revoked"
    assert whoami(pki, gateway, "ok1")["verdict"]["reason"] == "ok"
    loaded = gateway.rss_kib()

    # Three reloads, each with a CRL of new content (PEM and DER): the second one no longer
    # lists ok2, the third lists it again.
    for index, (pem, lists_ok2) in enumerate([(True, True), (False, False), (True, True)]):
        fresh = _write_big_crl(pki, str(tmp_path / ("next-%d.crl" % index)), [listed] if lists_ok2 else [],
                               seed=index + 2, pem=pem)
        with open(fresh, "rb") as handle:
            gateway.write_file("crls/root1-big.crl", handle.read())
        event = gateway.reload(timeout=60)
        assert event.get("result") == "ok", event
        assert whoami(pki, gateway, "ok2")["verdict"]["reason"] == ("revoked" if lists_ok2 else "ok"), index
        assert whoami(pki, gateway, "ok1")["verdict"]["reason"] == "ok"

    after = gateway.rss_kib()
    peak = gateway.rss_kib("VmHWM")
    # The steady state holds the CRL once (about 31 MB of it): a generation left behind by a
    # reload would add as much again.
    assert after <= loaded * 1.2, (loaded, after)
    assert peak < loaded * 2, (loaded, peak)
