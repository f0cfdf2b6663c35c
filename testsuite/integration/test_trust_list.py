"""Importing a generated ETSI TS 119 612 list signed by xmlsec1: selection, cards, refusals, reload."""

import datetime
import os
import socket
import threading

import pytest

from harness import curl, whoami
from trust_list_helpers import (change_one_byte, cli, directory_fingerprints, fingerprint, manifest, require_xmlsec1,
                                tsl_config, tslgen, write_config)

MAX_SIZE = 200_000  # the generated list is about 75 KB; the oversized case pads past this


@pytest.fixture(scope="module")
def world(pki, tmp_path_factory):
    require_xmlsec1()
    directory = str(tmp_path_factory.mktemp("tsl"))
    signer = tslgen.make_signer(directory, "AgID test signer")
    rogue = tslgen.make_signer(directory, "Rogue signer")
    services = tslgen.standard_services(pki)
    listed = tslgen.write_list(os.path.join(directory, "list-10.xml"), services, signer, sequence=10)
    return {"dir": directory, "signer": signer, "rogue": rogue, "services": services, "list": listed}


@pytest.fixture(scope="module")
def gw(pki, gateways, world):
    """A gateway whose only CAs are the ones imported from the generated list (sequence 10)."""
    gateway = gateways.new("tsl")
    gateway.install_trust()  # CRLs for the PKI's CAs; the bundle file is not used
    config = tsl_config(gateway, [world["signer"].cert_path], extra={"max_size": MAX_SIZE})
    config_path = write_config(gateway, config)
    first = cli("import", world["list"], "--config", config_path, "--json")
    assert first.rc == 0, first
    gateway.import_result = first
    gateway.start(config)
    return gateway


def expected_decision(pki, service):
    """(taken, reason) the default selection (IdV; recognised or granted) must give."""
    if service.type != tslgen.IDV:
        return False, "service_type"
    if service.status not in (tslgen.RECOGNISED, tslgen.GRANTED):
        return False, "service_status"
    if service.cert is None:
        return False, "no_certificate"
    if service.note != "cns":
        return False, "not_ca_certificate"
    return True, "selected"


def cns_fingerprints(pki):
    return sorted(fingerprint(pki, ca) for ca in ("root1", "root1b", "root2"))


def test_show_json_gives_every_service_with_its_reason(pki, world, gw):
    result = cli("show", world["list"], "--config", gw.config_path, "--json")
    assert result.rc == 0, result
    report = result.json()
    assert report["accepted"] is True and report["reason"] == "ok"
    assert report["sequence_number"] == 10
    assert report["signer"]["sha256"] == world["signer"].sha256 and report["signer"]["pinned"] is True
    services = report["services"]
    assert len(services) == len(world["services"]) >= 40
    assert len({s["type"] for s in services}) >= 5 and len({s["status"] for s in services}) >= 4
    for entry, service in zip(services, world["services"]):
        taken, reason = expected_decision(pki, service)
        assert (entry["taken"], entry["reason"]) == (taken, reason), (entry, service.name)
        assert entry["service"] == service.name and entry["provider"] == service.provider
        assert entry["type"] == service.type and entry["status"] == service.status
        assert entry["status_start"] == "2020-01-01T00:00:00Z"
        if service.cert is not None:
            assert entry["certificate"]["sha256"] == service.sha256
        else:
            assert entry["certificate"] is None
        if not taken:
            assert entry["detail"], entry  # says what did not match
    taken = sorted(s["certificate"]["sha256"] for s in services if s["taken"])
    assert taken == cns_fingerprints(pki)
    assert report["taken"] == 3 and report["skipped"] == len(services) - 3


def test_show_text_names_taken_and_skipped(world, gw):
    result = cli("show", world["list"], "--config", gw.config_path)
    assert result.rc == 0, result
    assert "taken:" in result.stdout and "skipped:" in result.stdout
    assert "service_status: status http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/deprecatedatnationallevel" in result.stdout
    assert "3 taken, 46 skipped, of 49 services" in result.stdout


def test_verify_prints_signer_sequence_dates_and_verdict(world, gw):
    result = cli("verify", world["list"], "--config", gw.config_path)
    assert result.rc == 0, result
    text = result.stdout
    assert "CN=AgID test signer" in text and world["signer"].sha256 in text and "(pinned)" in text
    assert "TSLSequenceNumber: 10" in text and "ListIssueDateTime: " in text and "NextUpdate: " in text
    assert "verdict:     ACCEPTED: 3 CA certificates" in text


def test_import_takes_exactly_the_idv_services_in_the_configured_statuses(pki, world, gw):
    result = gw.import_result
    summary = result.event("trust_list_import")
    assert summary["result"] == "applied" and summary["sequence_number"] == 10, summary
    assert summary["ca_certificates"] == 3 and summary["added"] == 3 and summary["removed"] == 0
    added = sorted(e["ca_sha256"] for e in result.events() if e.get("event") == "trust_list_ca_added")
    assert added == cns_fingerprints(pki)
    assert result.event("trust_list_reload")["result"] == "no_gateway"  # imported before the start
    assert directory_fingerprints(gw) == cns_fingerprints(pki)
    recorded = manifest(gw)
    assert recorded["sequence_number"] == 10 and recorded["signer_sha256"] == world["signer"].sha256
    assert sorted(e["sha256"] for e in recorded["certificates"]) == cns_fingerprints(pki)
    assert {e["service_type"] for e in recorded["certificates"]} == {tslgen.IDV}
    assert {e["provider"] for e in recorded["certificates"]} == {"Regione Demo", "Poste Italiane S.p.A."}
    ready = gw.find_events("ready")[0]
    assert ready["ca_certificates"] == 3


@pytest.mark.parametrize("citizen", ["ok1", "ok_same_dn", "ok_intermediate"])
def test_a_card_of_each_taken_ca_is_ok(pki, gw, citizen):
    assert whoami(pki, gw, citizen)["verdict"]["reason"] == "ok"


def test_a_card_of_a_signature_only_ca_is_unknown_issuer(pki, gw):
    # The PKI's `unknown` CA is in the list, but only as a qualified-signature CA (CA/QC).
    assert whoami(pki, gw, "unknown_issuer")["verdict"]["reason"] == "unknown_issuer"


# ---- refusals: each keeps the list in use -------------------------------------------------------

def _tampered(world, path):
    with open(world["list"], "rb") as handle:
        data = handle.read()
    # One byte inside a service (a qualified time-stamping service's name).
    with open(path, "wb") as handle:
        handle.write(change_one_byte(data, b'<Name xml:lang="en">QTSA '))


def _unpinned(world, path):
    tslgen.write_list(path, world["services"], world["rogue"], sequence=11)


def _pinned_certificate_other_key(world, path):
    # KeyInfo carries the pinned certificate, the signature is the rogue key's: the key used
    # to verify is the pinned certificate's, so the signature fails.
    tslgen.write_list(path, world["services"], world["signer"], sequence=11, key_path=world["rogue"].key_path)


def _past_next_update(world, path):
    now = datetime.datetime.now(datetime.timezone.utc)
    tslgen.write_list(path, world["services"], world["signer"], sequence=11,
                      issued=now - datetime.timedelta(days=200), next_update=now - datetime.timedelta(days=2))


def _rollback(world, path):
    tslgen.write_list(path, world["services"], world["signer"], sequence=9)


def _oversized(world, path):
    # A valid signature: comments are outside exclusive c14n, so only the size is wrong.
    with open(world["list"], "rb") as handle:
        data = handle.read()
    with open(path, "wb") as handle:
        handle.write(data + b"<!--" + b"x" * (MAX_SIZE + 1000) + b"-->\n")


def _missing_signature(world, path):
    with open(world["list"], "rb") as handle:
        data = handle.read()
    start = data.index(b"<ds:Signature")
    with open(path, "wb") as handle:
        handle.write(data[:start] + b"</TrustServiceStatusList>\n")


def _empty_selection(world, path):
    others = [s for s in world["services"] if s.type != tslgen.IDV]
    tslgen.write_list(path, others, world["signer"], sequence=11)


REFUSALS = [
    ("one_byte_in_a_service", _tampered, "bad_signature"),
    ("signed_by_a_key_not_pinned", _unpinned, "unpinned_signer"),
    ("pinned_certificate_but_another_key", _pinned_certificate_other_key, "bad_signature"),
    ("past_next_update", _past_next_update, "past_next_update"),
    ("lower_sequence_number", _rollback, "rollback"),
    ("over_max_size", _oversized, "too_large"),
    ("no_signature", _missing_signature, "missing_signature"),
    ("no_matching_service", _empty_selection, "empty_selection"),
]


def assert_previous_list_serves(pki, gw, start):
    assert manifest(gw)["sequence_number"] == 10
    assert directory_fingerprints(gw) == cns_fingerprints(pki)
    assert not gw.find_events("reloading", start)  # nothing asked the gateway to reload
    for citizen in ("ok1", "ok_same_dn"):
        assert whoami(pki, gw, citizen)["verdict"]["reason"] == "ok"


@pytest.mark.parametrize("name,make,code", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_refused_list_keeps_the_previous_one(pki, world, gw, name, make, code):
    path = os.path.join(world["dir"], "refused-%s.xml" % name)
    make(world, path)
    start = gw.mark()
    result = cli("import", path, "--config", gw.config_path, "--json")
    assert result.rc == 3, result
    event = result.event("trust_list_import")
    assert event["result"] == "refused" and event["reason"] == code, event
    assert event["error"] and event["detail"] == "the CA list in use stays"
    assert event["level"] == "error"
    assert not [e for e in result.events() if e.get("event") == "trust_list_reload"]
    verdict = cli("verify", path, "--config", gw.config_path, "--json")
    assert verdict.rc == 3 and verdict.json()["reason"] == code, verdict
    assert_previous_list_serves(pki, gw, start)


def test_doctype_with_external_entities_is_refused_unread(pki, world, gw, tmp_path):
    """The entities name a FIFO and a loopback HTTP listener: opening the FIFO for reading
    would release the writer blocked on it, and a fetch would reach the listener."""
    fifo = str(tmp_path / "secret.fifo")
    os.mkfifo(fifo)
    opened = threading.Event()

    def writer():
        fd = os.open(fifo, os.O_WRONLY)  # blocks until someone opens the FIFO to read
        opened.set()
        os.close(fd)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    try:
        with open(world["list"], "rb") as handle:
            data = handle.read()
        doctype = ('<!DOCTYPE TrustServiceStatusList [\n<!ENTITY secret SYSTEM "file://%s">\n'
                   '<!ENTITY remote SYSTEM "http://127.0.0.1:%d/entity">\n]>\n' % (fifo, port)).encode()
        data = data.replace(b"?>\n", b"?>\n" + doctype, 1)
        data = data.replace(b'<Name xml:lang="en">QTSA 1</Name>', b'<Name xml:lang="en">&secret;&remote;</Name>', 1)
        path = str(tmp_path / "doctype.xml")
        with open(path, "wb") as handle:
            handle.write(data)
        start = gw.mark()
        result = cli("import", path, "--config", gw.config_path, "--json")
        assert result.rc == 3, result
        assert result.event("trust_list_import")["reason"] == "doctype"
        for command in ("verify", "show"):
            other = cli(command, path, "--config", gw.config_path, "--json")
            assert other.rc == 3 and other.json()["reason"] == "doctype", other
        assert not opened.wait(0.5), "the entity's file was opened for reading"
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody connected to fetch the remote entity
        assert_previous_list_serves(pki, gw, start)
    finally:
        listener.close()
        if not opened.is_set():
            os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))  # release the writer
        thread.join(5)


def test_signature_wrapping_copy_is_not_imported(pki, world, gw, tmp_path):
    """A TrustServiceProviderList planted in a ds:Object of the signature is outside what
    the signature covers and never read: the list verifies, the planted CA is not taken."""
    planted = tslgen.filler_ca("Planted CA")
    service = tslgen.Service("Evil", "Planted", tslgen.IDV, tslgen.RECOGNISED, planted)
    copy = ('<ds:Object><TrustServiceProviderList xmlns="%s"><TrustServiceProvider><TSPInformation><TSPName>'
            '<Name xml:lang="en">Evil</Name></TSPName></TSPInformation><TSPServices>%s</TSPServices>'
            '</TrustServiceProvider></TrustServiceProviderList></ds:Object>' % (tslgen.TSL_NS, tslgen._service_xml(service)))
    with open(world["list"], "rb") as handle:
        data = handle.read()
    path = str(tmp_path / "wrapped.xml")
    with open(path, "wb") as handle:
        handle.write(data.replace(b"</ds:Signature>", copy.encode() + b"</ds:Signature>", 1))
    result = cli("show", path, "--config", gw.config_path, "--json")
    assert result.rc == 0, result
    report = result.json()
    assert service.sha256 not in {s["certificate"]["sha256"] for s in report["services"] if s["certificate"]}
    assert sorted(s["certificate"]["sha256"] for s in report["services"] if s["taken"]) == cns_fingerprints(pki)


def test_import_without_reload_then_with_reload(pki, world, gw):
    """Sequence 11 drops root1b: import names the removed CA and SIGHUPs the running gateway;
    root1b's card becomes unknown_issuer, root1's stays ok. Sequence 12 brings it back."""
    dropped = [s for s in world["services"] if s.sha256 != fingerprint(pki, "root1b")]
    path = os.path.join(world["dir"], "list-11.xml")
    tslgen.write_list(path, dropped, world["signer"], sequence=11)
    start = gw.mark()
    result = cli("import", path, "--config", gw.config_path, "--json")
    assert result.rc == 0, result
    removed = [e for e in result.events() if e.get("event") == "trust_list_ca_removed"]
    assert [e["ca_sha256"] for e in removed] == [fingerprint(pki, "root1b")]
    assert removed[0]["provider"] == "Regione Demo"
    summary = result.event("trust_list_import")
    assert summary["previous_sequence_number"] == 10 and summary["removed"] == 1 and summary["added"] == 0
    reload_event = result.event("trust_list_reload")
    assert reload_event["result"] == "signalled" and reload_event["pid"] == gw.proc.pid
    done = gw.wait_event(lambda e: e.get("event") == "reload", start=start)
    assert done["result"] == "ok" and done["ca_certificates"] == 2
    assert whoami(pki, gw, "ok_same_dn")["verdict"]["reason"] == "unknown_issuer"
    assert whoami(pki, gw, "ok1")["verdict"]["reason"] == "ok"

    path = os.path.join(world["dir"], "list-12.xml")
    tslgen.write_list(path, world["services"], world["signer"], sequence=12)
    start = gw.mark()
    result = cli("import", path, "--config", gw.config_path, "--json")
    assert result.rc == 0, result
    assert [e["ca_sha256"] for e in result.events() if e.get("event") == "trust_list_ca_added"] == [fingerprint(pki, "root1b")]
    gw.wait_event(lambda e: e.get("event") == "reload" and e.get("result") == "ok", start=start)
    assert whoami(pki, gw, "ok_same_dn")["verdict"]["reason"] == "ok"


def test_url_source_is_downloaded_through_the_outbound_stack(world, gw, tmp_path):
    """An http:// source is fetched (the list's own signature is what is trusted); a source
    that cannot be fetched is refused with the download's reason, never half-read."""
    import ops_helpers
    served = tmp_path / "served"
    served.mkdir()
    server = ops_helpers.CRLServer(str(served))
    # A sequence number above any the module's other tests import, so the test does not depend
    # on their order.
    newest = tslgen.write_list(str(tmp_path / "list-90.xml"), world["services"], world["signer"], sequence=90)
    try:
        server.publish("TSL-IT.xml", newest)
        result = cli("verify", server.url("TSL-IT.xml"), "--config", gw.config_path, "--json")
        assert result.rc == 0, result
        assert result.json()["accepted"] is True and result.json()["sequence_number"] == 90
        missing = cli("verify", server.url("nothing-here.xml"), "--config", gw.config_path, "--json")
        assert missing.rc == 3, missing
        assert missing.json()["reason"] == "download"
        assert "HTTP status 404" in missing.json()["error"]
    finally:
        server.close()
    refused = cli("verify", "https://127.0.0.1:9/TSL-IT.xml", "--config", gw.config_path, "--json")
    assert refused.rc == 3, refused
    assert refused.json()["reason"] == "download" and "Connection refused" in refused.json()["error"]


def test_scheduled_refresh_follows_the_source_while_serving(pki, gateways, world, tmp_path):
    """The gateway fetches its configured source itself: a new list adding a CA is picked up
    without a restart (that CA's card goes from unknown_issuer to ok), a connection opened
    before keeps working, and a refused list (tampered) leaves the last good one in use, with
    the reason in the log and the metrics."""
    import ops_helpers
    from harness import request, tls_connect
    served = tmp_path / "served"
    served.mkdir()
    server = ops_helpers.CRLServer(str(served))
    gateway = gateways.new("tsl-refresh")
    try:
        gateway.install_trust()  # the PKI's CRLs; the CAs come from the list only
        without_root1b = [s for s in world["services"] if "renewed key" not in s.name]
        first = tslgen.write_list(str(tmp_path / "list-100.xml"), without_root1b, world["signer"], sequence=100)
        server.publish("TSL-IT.xml", first)
        config = tsl_config(gateway, [world["signer"].cert_path], source=server.url("TSL-IT.xml"),
                            extra={"max_size": MAX_SIZE, "refresh_interval": 2})
        config["admin"] = {"address": "127.0.0.1:0"}
        write_config(gateway, config)
        assert cli("import", "--config", gateway.config_path, "--json", "--no-reload").rc == 0
        gateway.start(config)
        assert whoami(pki, gateway, "ok_same_dn")["verdict"]["reason"] == "unknown_issuer"
        keep_alive = tls_connect(pki, gateway.port(), "ok1")
        try:
            assert request(keep_alive, "/whoami").json()["verdict"]["reason"] == "ok"
            start = gateway.mark()
            server.publish("TSL-IT.xml", tslgen.write_list(str(tmp_path / "list-101.xml"), world["services"],
                                                           world["signer"], sequence=101))
            added = gateway.wait_event(lambda e: e.get("event") == "trust_list_ca_added", start=start, timeout=20)
            assert added["ca_sha256"] == fingerprint(pki, "root1b")
            reload = gateway.wait_event(lambda e: e.get("event") == "reload", start=start, timeout=20)
            assert reload["result"] == "ok", reload
            assert whoami(pki, gateway, "ok_same_dn")["verdict"]["reason"] == "ok"
            assert request(keep_alive, "/whoami").json()["verdict"]["reason"] == "ok"
        finally:
            keep_alive.close()
        health = curl(pki, gateway.url("/healthz")).json()
        assert health["trust_list"]["sequence_number"] == 101 and health["trust_list"]["past_next_update"] is False, health
        metrics = ops_helpers.parse_metrics(ops_helpers.fetch_metrics(gateway))
        assert ops_helpers.metric_sum(metrics, "cns_trust_list_sequence_number") == 101
        assert ops_helpers.metric_sum(metrics, "cns_trust_list_cas") == len(manifest(gateway)["certificates"])

        # A tampered list is refused; the one in use stays, and the metrics and log say why.
        start = gateway.mark()
        signed = tslgen.write_list(str(tmp_path / "list-102.xml"), world["services"], world["signer"], sequence=102)
        with open(signed, "rb") as handle:
            data = handle.read()
        tampered = str(tmp_path / "list-102-tampered.xml")
        with open(tampered, "wb") as handle:
            handle.write(change_one_byte(data, b'<Name xml:lang="en">QTSA '))
        server.publish("TSL-IT.xml", tampered)
        refused = gateway.wait_event(lambda e: e.get("event") == "trust_list_import" and e.get("result") == "refused",
                                     start=start, timeout=20)
        assert refused["reason"] == "bad_signature", refused
        metrics = ops_helpers.parse_metrics(ops_helpers.fetch_metrics(gateway))
        assert ops_helpers.metric_sum(metrics, "cns_trust_list_failures_total", reason="bad_signature") >= 1
        assert ops_helpers.metric_sum(metrics, "cns_trust_list_sequence_number") == 101
        assert whoami(pki, gateway, "ok_same_dn")["verdict"]["reason"] == "ok"
    finally:
        server.close()
