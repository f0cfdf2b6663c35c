"""cns-card and the virtual TS-CNS card through a real pcscd + vpcd, checked against OpenSC.

Needs the Debian packages pcscd, vsmartcard-vpcd, opensc (and openssl); a missing one fails
the test naming the package. Binaries: $CNS_CARD_BIN_DIR or .build/debug.
"""

import json
import os

import pytest

import card_helpers as ch

PIN = "12345"
PUK = "12345678"


@pytest.fixture(scope="module")
def pcsc(tmp_path_factory):
    service = ch.PCSC(tmp_path_factory.mktemp("pcscd"))
    try:
        yield service.start()
    finally:
        service.stop()


@pytest.fixture
def citizen(pki):
    return pki.citizen("ok1")


@pytest.fixture
def virtual_card(pcsc, citizen, tmp_path):
    """A fresh card per test (PIN and PUK counters full), removed whatever the test did."""
    card = ch.VirtualCard(citizen, tmp_path, pin=PIN, puk=PUK)
    try:
        yield card.start()
    finally:
        card.stop()


def assert_no_secret(*texts, secrets=(PIN, PUK)):
    for text in texts:
        for secret in secrets:
            assert secret not in text, "a PIN/PUK was printed or logged"


# ---- 1. info --------------------------------------------------------------------------------

def test_info_shows_card_id_personal_data_and_codice_fiscale(virtual_card, citizen):
    out = ch.cns_card("info", check=0).stdout
    assert "CNS 1.0" in out
    assert "Card id:         %s" % citizen["card_id"] in out
    assert "Surname:         %s" % citizen["surname"] in out
    assert "Given name:      %s" % citizen["given_name"] in out
    # The CF from EF_DatiPersonali and from the certificate, both judged by the CNS module.
    assert out.count("%s (valid)" % citizen["cf"]) == 2
    assert "Profile:         CNS authentication certificate" in out
    assert "MISMATCH" not in out
    assert "The data on the card and in the certificate agree." in out


def test_info_reports_a_card_whose_files_disagree_with_its_certificate(pcsc, citizen, tmp_path):
    card = ch.VirtualCard(citizen, tmp_path, extra=["--card-id", "1234567890123456"])
    try:
        card.start()
        result = ch.cns_card("info")
        assert result.returncode == 4, result.stdout + result.stderr
        assert "Card id:         1234567890123456" in result.stdout
        assert "MISMATCH card id" in result.stdout
        assert "DO NOT agree" in result.stdout
    finally:
        card.stop()


def test_readers_lists_the_virtual_reader_and_card(virtual_card):
    out = ch.cns_card("readers", check=0).stdout
    assert "%s: CNS 1.0 card, ATR 3B FF 18 00 FF 81 31 FE 55" % ch.READER in out


# ---- 2. PIN, PUK, blocking ------------------------------------------------------------------

def test_three_wrong_pins_block_and_the_puk_unblocks(virtual_card):
    outputs = []

    def pin(*args, stdin):
        result = ch.cns_card("pin", *args, "--pin-fd", "0", stdin=stdin)
        outputs.extend([result.stdout, result.stderr])
        return result

    first = pin("verify", stdin="11111\n")
    assert first.returncode == 1 and "Wrong PIN: 2 tries left." in first.stdout
    second = pin("verify", stdin="22222\n")
    assert second.returncode == 1 and "Wrong PIN: 1 try left." in second.stdout
    assert "Warning: one more wrong PIN blocks it." in second.stdout
    third = pin("verify", stdin="33333\n")
    assert third.returncode == 2 and "Wrong PIN: 0 tries left." in third.stdout
    assert "The PIN is now blocked" in third.stdout
    # Blocked: even the right PIN is refused.
    blocked = pin("verify", stdin=PIN + "\n")
    assert blocked.returncode == 2 and "The PIN is blocked" in blocked.stdout

    # A wrong PUK is counted too, and does not unblock.
    wrong_puk = pin("unblock", stdin="87654321\n54321\n")
    assert wrong_puk.returncode == 1 and "Wrong PUK: 9 tries left." in wrong_puk.stdout
    assert pin("verify", stdin=PIN + "\n").returncode == 2

    unblocked = pin("unblock", stdin=PUK + "\n54321\n")
    assert unblocked.returncode == 0 and "PIN unblocked" in unblocked.stdout
    assert pin("verify", stdin="54321\n").returncode == 0
    # The old PIN is gone, and the counter is full again (3 -> 2 left).
    old = pin("verify", stdin=PIN + "\n")
    assert old.returncode == 1 and "2 tries left" in old.stdout
    # A successful unblock refilled the PUK counter as well.
    again = pin("unblock", stdin="87654321\n54321\n")
    assert "Wrong PUK: 9 tries left." in again.stdout

    assert_no_secret(*outputs, virtual_card.log_text(), secrets=(PIN, PUK, "54321", "11111"))


def test_pin_change_then_verify(virtual_card):
    assert ch.cns_card("pin", "change", "--pin-fd", "0", stdin="%s\n67890123\n" % PIN, check=0)
    assert "PIN verified." in ch.cns_card("pin", "verify", "--pin-fd", "0", stdin="67890123\n", check=0).stdout
    wrong_old = ch.cns_card("pin", "change", "--pin-fd", "0", stdin="%s\n11111\n" % PIN)
    assert wrong_old.returncode == 1 and "2 tries left" in wrong_old.stdout


def test_pins_never_come_from_argv_and_are_checked_before_the_card(virtual_card):
    # No --pin option exists; a malformed PIN on --pin-fd is refused without touching the card.
    assert ch.cns_card("pin", "verify", "--pin", PIN).returncode != 0
    short = ch.cns_card("pin", "verify", "--pin-fd", "0", stdin="12\n")
    assert short.returncode != 0 and "5 to 8 digits" in short.stderr
    assert "2 tries left" in ch.cns_card("pin", "verify", "--pin-fd", "0", stdin="99999\n").stdout


# ---- 3. OpenSC ------------------------------------------------------------------------------

def test_opensc_recognises_an_italian_cns(virtual_card, citizen, tmp_path):
    assert "CNS card" in ch.run([ch.require_program("opensc-tool"), "-r", ch.READER, "-n"], check=0).stdout
    dump = ch.run([ch.require_program("pkcs15-tool"), "-r", ch.READER, "--dump"], check=0).stdout
    assert "Serial number  : %s" % citizen["card_id"] in dump
    assert "X.509 Certificate [CNS0]" in dump
    assert "Path           : 3f0011001101" in dump
    assert "PIN [PIN CNS0]" in dump
    assert "PIN [PUK CNS0]" in dump
    # OpenSC names the token after EF_DatiPersonali: "<given name> <surname>".
    assert "PKCS#15 Card [%s %s]" % (citizen["given_name"], citizen["surname"]) in dump

    pem = ch.run([ch.require_program("pkcs15-tool"), "-r", ch.READER, "--read-certificate", "01"], check=0).stdout
    out = tmp_path / "card.der"
    ch.cns_card("cert", "--out", str(out), check=0)
    assert out.read_bytes() == ch.pem_to_der(pem)
    with open(citizen["cert"], "rb") as handle:
        assert ch.pem_to_der(handle.read().decode()) == out.read_bytes()


def test_opensc_sees_no_cns_without_a_card(pcsc):
    result = ch.run([ch.require_program("pkcs15-tool"), "-r", ch.READER, "--dump"])
    assert result.returncode != 0


# ---- 4. login to a cns-gateway ----------------------------------------------------------------

@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_login_signs_the_handshake_on_the_card(virtual_card, citizen, gateways, pki, version):
    gateway = gateways.new("login-%s" % version)
    gateway.start(gateway.make_config(listeners=[gateway.listener(tls_versions=[version])]))
    try:
        result = ch.cns_card("login", gateway.url(), "--cacert", pki.path(pki.manifest["server"]["ca"]),
                             "--pin-fd", "0", stdin=PIN + "\n")
        assert result.returncode == 0, result.stdout + result.stderr
        whoami = json.loads(result.stdout[result.stdout.index("{"):])
        assert whoami["tls_version"] == "TLSv%s" % version
        assert citizen["cf"] in whoami["client_certificate"]["subject"]
        assert whoami["verdict"]["reason"] == "ok"
        assert "Codice Fiscale: %s" % citizen["cf"] in result.stderr
        # TLS 1.2: PKCS#1 v1.5, TLS 1.3: RSA-PSS, both padded by the host and signed raw on the card.
        scheme = "RSA PKCS#1 v1.5" if version == "1.2" else "RSA-PSS"
        assert "CertificateVerify signed on the card with %s" % scheme in result.stderr
        assert "PSO -> 9000" in virtual_card.log_text()
        assert_no_secret(result.stdout, result.stderr, virtual_card.log_text())
    finally:
        gateway.stop()


def test_login_with_a_wrong_pin_fails_and_counts(virtual_card, gateways, pki):
    gateway = gateways.new("login-wrong-pin")
    gateway.start()
    try:
        result = ch.cns_card("login", gateway.url(), "--cacert", pki.path(pki.manifest["server"]["ca"]),
                             "--pin-fd", "0", stdin="99999\n")
        assert result.returncode == 1
        assert "Wrong PIN: 2 tries left." in result.stdout
    finally:
        gateway.stop()


# ---- 5. the virtual CIE (issue 18) -------------------------------------------------------------

CIE_PIN = "12345678"  # a CIE's PIN and PUK are 8 digits, handed out in two halves of four
CIE_PUK = "87654321"


@pytest.fixture
def virtual_cie(pcsc, pki, tmp_path):
    card = ch.VirtualCard(pki.citizen("cie_ok"), tmp_path, pin=CIE_PIN, puk=CIE_PUK, extra=["--kind", "cie"])
    try:
        yield card.start()
    finally:
        card.stop()


@pytest.fixture(scope="module")
def cie_gateway(gateways):
    from test_cie import install_cie_trust
    gateway = gateways.new("card-cie")
    install_cie_trust(gateway)
    gateway.start()
    yield gateway
    gateway.stop()


def test_the_virtual_cie_reads_as_a_cie(virtual_cie, pki):
    citizen = pki.citizen("cie_ok")
    out = ch.cns_card("info", check=0).stdout
    assert "Profile:         CIE authentication certificate" in out
    assert "Document:        %s" % citizen["document_number"] in out
    assert out.count("%s (valid)" % citizen["cf"]) == 2
    assert "Card id:         0000%s" % citizen["cn_number"] in out
    assert "The data on the card and in the certificate agree." in out
    assert "PKCS#1 v1.5 signatures only" in virtual_cie.log_text()


def test_the_virtual_cie_logs_in_over_tls12_signing_pkcs1_on_the_card(virtual_cie, cie_gateway, pki):
    result = ch.cns_card("login", cie_gateway.url(), "--cacert", pki.path(pki.manifest["server"]["ca"]), "--tls", "1.2",
                         "--pin-fd", "0", stdin=CIE_PIN + "\n")
    assert result.returncode == 0, result.stdout + result.stderr
    whoami = json.loads(result.stdout[result.stdout.index("{"):])
    assert whoami["tls_version"] == "TLSv1.2" and whoami["client_signature"].startswith("rsa_pkcs1_")
    assert whoami["verdict"]["reason"] == "ok" and whoami["verdict"]["card_kind"] == "cie"
    assert "CertificateVerify signed on the card with RSA PKCS#1 v1.5" in result.stderr
    assert "PSO -> 9000" in virtual_cie.log_text()
    assert_no_secret(result.stdout, result.stderr, virtual_cie.log_text(), secrets=(CIE_PIN, CIE_PUK))


def test_the_virtual_cie_cannot_log_in_over_tls13(virtual_cie, cie_gateway, pki):
    """TLS 1.3 needs RSA-PSS in the CertificateVerify; the CIE signs PKCS#1 v1.5 only, so the card
    refuses the block (6A80) and the handshake fails, as with a real CIE."""
    result = ch.cns_card("login", cie_gateway.url(), "--cacert", pki.path(pki.manifest["server"]["ca"]), "--tls", "1.3",
                         "--pin-fd", "0", stdin=CIE_PIN + "\n")
    assert result.returncode == 5, result.stdout + result.stderr
    assert "PSO -> 6A80" in virtual_cie.log_text()
    assert "PSO -> 9000" not in virtual_cie.log_text()


def test_the_virtual_cie_wants_a_cie_certificate_and_8_digit_secrets(pcsc, pki, tmp_path):
    binary = ch.binary("cns-virtual-card")
    cns = pki.citizen("ok1")
    wrong_card = ch.run([binary, "--certificate", cns["cert"], "--key", cns["key"], "--pin", CIE_PIN, "--puk", CIE_PUK,
                         "--vpcd", ch.VPCD_ADDRESS, "--kind", "cie"], timeout=30)
    assert wrong_card.returncode != 0 and "not a CIE's" in wrong_card.stderr, wrong_card.stderr
    cie = pki.citizen("cie_ok")
    short_pin = ch.run([binary, "--certificate", cie["cert"], "--key", cie["key"], "--pin", "12345", "--puk", CIE_PUK,
                        "--vpcd", ch.VPCD_ADDRESS, "--kind", "cie"], timeout=30)
    assert short_pin.returncode != 0 and "8-digit PIN" in short_pin.stderr, short_pin.stderr
