"""Citizen-facing pages served by the daemon: `/` (landing) and `/verifica` (what the gateway reads
from the presented card and whether it would accept it), in Italian and English.

Two kinds of client:
(a) curl with the test PKI's cards: the verdict text for good, rejected and absent cards, the
    language choice, escaping of certificate fields;
(b) headless Chromium holding a card in its NSS store and picking it through the
    AutoSelectCertificateForUrls policy (shared/RECIPES.md): what a citizen's browser shows.
    The screenshots are kept in test-artifacts/ at the repository root.

The expected wording is read from Sources/Pages/Resources/strings.*.json, the files the pages are
made from, so rewording a sentence does not break these tests but showing the wrong one does.
Missing programs fail the test with the Debian package to install; nothing is skipped.
"""

import datetime
import html
import json
import os
import re
import subprocess
import tempfile

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import cnspki
from harness import REPO, curl, require_program

STRINGS_DIR = os.path.join(REPO, "Sources", "Pages", "Resources")
ARTIFACTS = os.path.join(REPO, "test-artifacts")
POLICY_DIR = "/etc/chromium/policies/managed"

# program -> Debian package that provides it

# Cards shown on /verifica and the reason each one must be refused (or accepted) with. The
# signature certificate has a good chain: the CNS profile check is what refuses it.
VERIFICA_CARDS = ["ok1", "ok_intermediate", "ok_no_gn_sn", "expired", "not_yet_valid", "revoked",
                  "unknown_issuer", "bad_signature", "weak_not_legacy", "legacy", "signature"]


def strings(language):
    with open(os.path.join(STRINGS_DIR, "strings.%s.json" % language), encoding="utf-8") as handle:
        return json.load(handle)


IT = strings("it")
EN = strings("en")


def reason_title(reason, table=IT):
    return table["reasons"][reason]["title"]


def expected_reason(card):
    return card["profile_reason"] or card["expected_reason"]


def visible_text(markup):
    """The text a person reads: no head, no tags, entities decoded, whitespace collapsed."""
    body = re.split(r"<body[^>]*>", markup, maxsplit=1)[-1]
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", body, flags=re.S | re.I)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


class Page:
    def __init__(self, result, headers):
        self.status = result.status
        self.body = result.body
        self.text = visible_text(result.body)
        self.headers = headers
        self.curl = result

    def __repr__(self):
        return "<page status=%s text=%r>" % (self.status, self.text[:400])


def get(pki, gateway, path, card=None, headers=()):
    """GET over the login listener with curl; `card` is a citizen name or manifest entry."""
    with tempfile.NamedTemporaryFile("r", suffix=".headers") as head:
        extra = ["-D", head.name]
        for header in headers:
            extra += ["-H", header]
        result = curl(pki, gateway.url(path), card, extra)
        assert result.rc == 0, "curl %s failed: %r\n%s" % (path, result, gateway.log_tail(10))
        head.seek(0)
        lines = head.read().splitlines()
    parsed = {}
    for line in lines:
        name, sep, value = line.partition(":")
        if sep:
            parsed[name.strip().lower()] = value.strip()
    return Page(result, parsed)


def assert_html_page(page, language):
    assert page.headers.get("content-type", "").startswith("text/html"), page.headers
    assert 'charset=utf-8' in page.headers.get("content-type", "").lower().replace(" ", ""), page.headers
    assert page.body.lstrip().lower().startswith("<!doctype html>"), page.body[:200]
    assert '<html lang="%s">' % language in page.body, page.body[:300]
    assert "<script" not in page.body.lower(), "pages carry no JavaScript"


@pytest.fixture(scope="module")
def gw(gateways):
    return gateways.new("pages").start()


# ---- (a) curl ---------------------------------------------------------------------------------

def test_landing_page(pki, gw):
    page = get(pki, gw, "/")
    assert page.status == 200, page
    assert_html_page(page, "it")
    landing = IT["landing"]
    # The default profile takes both cards: the TS-CNS's sections, then the CIE's.
    for phrase in (landing["heading_both"], landing["reader_title"], landing["software_title"], landing["pin_title"],
                   landing["blocked_heading"], landing["cns_heading"], landing["cie_heading"], landing["cie_help_link"]):
        assert phrase in page.text, (phrase, page)
    assert 'href="/verifica' in page.body and 'href="/cie?lang=it"' in page.body


def test_landing_page_in_english(pki, gw):
    page = get(pki, gw, "/?lang=en")
    assert page.status == 200, page
    assert_html_page(page, "en")
    assert EN["landing"]["heading_both"] in page.text and EN["landing"]["reader_title"] in page.text, page


def test_verifica_good_card(pki, gw):
    card = pki.citizen("ok1")
    page = get(pki, gw, "/verifica", card)
    assert page.status == 200, page
    assert_html_page(page, "it")
    assert IT["verifica"]["accepted_heading"] in page.text, page
    assert IT["verifica"]["refused_heading"] not in page.text, page
    for value in (card["cf"], card["card_id"], card["given_name"], card["surname"]):
        assert value in page.text, (value, page)
    assert "Regione Demo - CA Cittadini" in page.text, "the issuer is shown"


@pytest.mark.parametrize("name", VERIFICA_CARDS)
def test_verifica_shows_each_verdict(pki, gw, name):
    card = pki.citizen(name)
    reason = expected_reason(card)
    page = get(pki, gw, "/verifica", card)
    assert page.status == 200, page
    if reason == "ok":
        assert IT["verifica"]["accepted_heading"] in page.text, page
        assert card["cf"] in page.text, page
    else:
        assert IT["verifica"]["refused_heading"] in page.text, page
        assert IT["verifica"]["accepted_heading"] not in page.text, page
        assert reason_title(reason) in page.text, (reason, page)
        assert reason in page.text, "the reason code is shown for help desks"


def test_verifica_expired_card_says_renew(pki, gw):
    page = get(pki, gw, "/verifica", "expired")
    expired = IT["reasons"]["expired"]
    assert expired["title"] in page.text and expired["what"] in page.text, page
    assert all(step in page.text for step in expired["steps"]), page
    assert pki.citizen("expired")["cf"] in page.text, "a help desk sees whose card it is"


def test_verifica_without_card(pki, gw):
    page = get(pki, gw, "/verifica")
    assert page.status == 200, page
    assert_html_page(page, "it")
    assert reason_title("no_certificate") in page.text, page
    assert IT["verifica"]["refused_heading"] in page.text, page
    assert IT["verifica"]["card_heading"] not in page.text, page


@pytest.mark.parametrize("how", ["query", "accept-language"])
def test_verifica_in_english(pki, gw, how):
    path, headers = ("/verifica?lang=en", ()) if how == "query" else ("/verifica", ("Accept-Language: en-GB,en;q=0.9",))
    good = get(pki, gw, path, "ok1", headers)
    assert_html_page(good, "en")
    assert EN["verifica"]["accepted_heading"] in good.text, good
    assert IT["verifica"]["accepted_heading"] not in good.text, good
    expired = get(pki, gw, path, "expired", headers)
    assert reason_title("expired", EN) in expired.text, expired
    none = get(pki, gw, path, None, headers)
    assert reason_title("no_certificate", EN) in none.text, none


def test_query_language_beats_accept_language(pki, gw):
    page = get(pki, gw, "/verifica?lang=it", "ok1", ("Accept-Language: en",))
    assert_html_page(page, "it")
    assert IT["verifica"]["accepted_heading"] in page.text, page


HOSTILE_GIVEN_NAME = '<script>alert("gn")</script>'
HOSTILE_SURNAME = "O'Brien & <b>Co</b>"
HOSTILE_OU = '"><img src=x onerror=alert(1)>'


@pytest.fixture(scope="module")
def hostile_card(pki, tmp_path_factory):
    """A well-formed CNS card from root1 whose name fields carry markup: the certificate is the
    attacker's input, so the page must show it as text."""
    root = pki.cas["root1"]
    key = rsa.generate_private_key(65537, 2048)
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    cn = "RSSMRA80A01H501U/6120016000000042." + cnspki.card_hash("hostile")
    subject = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "IT"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ArubaPEC S.p.A."),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, HOSTILE_OU),
        x509.NameAttribute(NameOID.COMMON_NAME, cn),
        x509.NameAttribute(NameOID.GIVEN_NAME, HOSTILE_GIVEN_NAME),
        x509.NameAttribute(NameOID.SURNAME, HOSTILE_SURNAME),
    ])
    cert = (x509.CertificateBuilder()
            .subject_name(subject).issuer_name(root.cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=365))
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root.key.public_key()), critical=False)
            .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(x509.CertificatePolicies([x509.PolicyInformation(
                x509.ObjectIdentifier(cnspki.CNS_AUTH_POLICY), None)]), critical=False)
            .sign(root.key, hashes.SHA256()))
    out = tmp_path_factory.mktemp("hostile")
    cert_path, key_path = str(out / "hostile.pem"), str(out / "hostile.key")
    with open(cert_path, "wb") as handle:
        handle.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as handle:
        handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return {"cert": cert_path, "key": key_path, "key_bits": 2048, "signature": "sha256", "cf": "RSSMRA80A01H501U"}


def test_verifica_escapes_certificate_fields(pki, gw, hostile_card):
    page = get(pki, gw, "/verifica", hostile_card)
    assert page.status == 200, page
    assert IT["verifica"]["accepted_heading"] in page.text, page
    assert "<script" not in page.body.lower() and "<img" not in page.body.lower() and "<b>" not in page.body
    assert HOSTILE_GIVEN_NAME in page.text and HOSTILE_SURNAME in page.text, page
    assert hostile_card["cf"] in page.text


# ---- (b) headless Chromium --------------------------------------------------------------------

class Browser:
    """Headless Chromium with its own HOME (NSS database, profile) and, optionally, one card.

    Chromium reads client certificates from $HOME/.pki/nssdb; headless, it presents one only
    when the AutoSelectCertificateForUrls policy matches the URL (shared/RECIPES.md).
    """

    def __init__(self, pki, workdir, card_p12=None, p12_password=None):
        self.chromium = require_program("chromium")
        certutil = require_program("certutil")
        pk12util = require_program("pk12util")
        self.home = os.path.join(str(workdir), "home")
        nssdb = os.path.join(self.home, ".pki", "nssdb")
        os.makedirs(nssdb)
        db = "sql:" + nssdb
        self._run([certutil, "-N", "-d", db, "--empty-password"])
        self._run([certutil, "-A", "-d", db, "-n", "cns-gateway-test-server-ca", "-t", "C,,",
                   "-i", pki.path(pki.manifest["server"]["ca"])])
        if card_p12 is not None:
            self._run([pk12util, "-i", card_p12, "-d", db, "-W", p12_password])

    def _run(self, args):
        proc = subprocess.run(args, capture_output=True, text=True, timeout=60, env=self.env())
        assert proc.returncode == 0, "%s failed (%d):\n%s%s" % (args[0], proc.returncode, proc.stdout, proc.stderr)
        return proc

    def env(self):
        # A browser set up in Italian, as a citizen's would be: headless Chromium otherwise
        # asks for en-US, and the pages would rightly answer in English.
        return dict(os.environ, HOME=self.home, LANGUAGE="it", LANG="it_IT.UTF-8", LC_ALL="")

    def _chromium(self, url, *mode, timeout=90):
        args = [self.chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-extensions", "--disable-background-networking", "--disable-sync",
                "--lang=it-IT", "--accept-lang=it-IT,it",
                "--user-data-dir=" + os.path.join(self.home, "profile"), "--window-size=1000,1400"]
        args += list(mode) + [url]
        try:
            proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=self.env())
        except subprocess.TimeoutExpired:
            raise AssertionError("chromium did not finish within %ds loading %s" % (timeout, url))
        assert proc.returncode == 0, "chromium exit %d for %s:\n%s" % (proc.returncode, url, proc.stderr[-2000:])
        return proc

    def dump_dom(self, url):
        return self._chromium(url, "--dump-dom").stdout

    def screenshot(self, url, name, width=1000, height=1400):
        os.makedirs(ARTIFACTS, exist_ok=True)
        path = os.path.join(ARTIFACTS, name)
        if os.path.exists(path):
            os.remove(path)
        self._chromium(url, "--hide-scrollbars", "--screenshot=" + path, "--window-size=%d,%d" % (width, height))
        assert os.path.getsize(path) > 1000, "empty screenshot %s" % path
        return path


@pytest.fixture(scope="module")
def browser_programs():
    """Checked before anything is installed for the browser, so a missing one fails cleanly."""
    for name in ("chromium", "certutil", "pk12util"):
        require_program(name)


@pytest.fixture
def auto_select_policy(gw, browser_programs):
    """Chromium policy that picks the (only) client certificate for the gateway's origin.
    Removed at teardown, whatever happened."""
    host, port = gw.listeners["login"]
    os.makedirs(POLICY_DIR, exist_ok=True)
    path = os.path.join(POLICY_DIR, "cns-gateway-test-pages-%d.json" % os.getpid())
    rule = json.dumps({"pattern": "https://%s:%d" % (host, port), "filter": {}})
    try:
        with open(path, "w") as handle:
            json.dump({"AutoSelectCertificateForUrls": [rule]}, handle)
    except OSError as error:
        pytest.fail("cannot write the Chromium policy %s (%s): run as root" % (path, error), pytrace=False)
    try:
        yield path
    finally:
        if os.path.exists(path):
            os.remove(path)


def card_p12(pki, name, out_dir):
    """PKCS#12 of a test card (the session PKI ships only ok1's)."""
    card = pki.citizen(name)
    if card.get("p12"):
        return card["p12"], pki.manifest["pkcs12"]["password"]
    with open(card["cert"], "rb") as handle:
        pem = handle.read()
    blocks = re.findall(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", pem, flags=re.S)
    certs = [x509.load_pem_x509_certificate(block) for block in blocks]
    with open(card["key"], "rb") as handle:
        key = serialization.load_pem_private_key(handle.read(), None)
    password = cnspki.PKCS12_PASSWORD
    data = pkcs12.serialize_key_and_certificates(
        name.encode(), key, certs[0], certs[1:] or None,
        serialization.BestAvailableEncryption(password.encode()))
    path = os.path.join(str(out_dir), "%s.p12" % name)
    with open(path, "wb") as handle:
        handle.write(data)
    return path, password


def test_chromium_verifica_good_card(pki, gw, auto_select_policy, tmp_path):
    p12, password = card_p12(pki, "ok1", tmp_path)
    browser = Browser(pki, tmp_path, p12, password)
    url = gw.url("/verifica")
    text = visible_text(browser.dump_dom(url))
    assert IT["verifica"]["accepted_heading"] in text, text[:1500]
    card = pki.citizen("ok1")
    assert card["cf"] in text and card["card_id"] in text, text[:1500]
    browser.screenshot(url, "pages-verifica-ok-it.png")
    browser.screenshot(url, "pages-verifica-ok-it-360px.png", width=360, height=1600)
    english = visible_text(browser.dump_dom(gw.url("/verifica?lang=en")))
    assert EN["verifica"]["accepted_heading"] in english, english[:1500]
    browser.screenshot(gw.url("/verifica?lang=en"), "pages-verifica-ok-en.png")


def test_chromium_expired_card(pki, gw, auto_select_policy, tmp_path):
    """Chromium never offers an expired certificate (nor a not-yet-valid one, nor one whose issuer
    is not among the CA names the server sends): measured against `openssl s_server -verify 1`.
    So a citizen whose card expired reaches the gateway with no certificate at all, and the page
    they see is no_certificate's, which must tell them to check the expiry date. curl, which does
    present an expired card, covers the `expired` verdict page (test_verifica_expired_card_says_renew)."""
    p12, password = card_p12(pki, "expired", tmp_path)
    browser = Browser(pki, tmp_path, p12, password)
    url = gw.url("/verifica")
    text = visible_text(browser.dump_dom(url))
    assert reason_title("no_certificate") in text, text[:1500]
    expiry_steps = [step for step in IT["reasons"]["no_certificate"]["steps"] if "scadenza" in step]
    assert expiry_steps and all(step in text for step in expiry_steps), text[:1500]
    assert IT["verifica"]["accepted_heading"] not in text, text[:1500]
    browser.screenshot(url, "pages-verifica-expired-card-it.png")
    browser.screenshot(url, "pages-verifica-expired-card-it-360px.png", width=360, height=1800)


def test_chromium_revoked_card(pki, gw, auto_select_policy, tmp_path):
    """A rejected card that Chromium does present: the verdict page for `revoked`."""
    p12, password = card_p12(pki, "revoked", tmp_path)
    browser = Browser(pki, tmp_path, p12, password)
    url = gw.url("/verifica")
    text = visible_text(browser.dump_dom(url))
    assert reason_title("revoked") in text, text[:1500]
    assert IT["verifica"]["refused_heading"] in text, text[:1500]
    assert pki.citizen("revoked")["cf"] in text, text[:1500]
    browser.screenshot(url, "pages-verifica-revoked-it.png")


def test_chromium_without_card(pki, gw, browser_programs, tmp_path):
    browser = Browser(pki, tmp_path)
    text = visible_text(browser.dump_dom(gw.url("/verifica?lang=en")))
    assert reason_title("no_certificate", EN) in text, text[:1500]
    landing = gw.url("/")
    assert IT["landing"]["heading_both"] in visible_text(browser.dump_dom(landing))
    browser.screenshot(landing, "pages-landing-it.png")
    browser.screenshot(landing, "pages-landing-it-360px.png", width=360, height=2400)
