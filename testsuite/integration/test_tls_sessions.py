"""Issue 15, item 9 (the TLS part): a TLS 1.2 session stays in the server's cache when the
connection ends without the gateway's close_notify (the client vanishes, the gateway's idle
timeout closes it, or the client's own close_notify is read and the gateway just closes), so the
next connection resumes by session ID, as it does with nginx. Real `openssl
s_client` with `-sess_out` / `-sess_in`, tickets off so only the session-ID cache can resume.

A listener that asks for the card never resumes (every login must show the card), whatever
the close."""

import os
import signal
import subprocess
import time

import pytest

from harness import require_program, s_client

IDLE_TIMEOUT = 1.0


@pytest.fixture(scope="module")
def gw(gateways):
    gateway = gateways.new("sessions")
    return gateway.start(gateway.make_config(listeners=[
        gateway.listener("public", client_certificate="none"),
        gateway.listener("login"),
    ], limits={"idle_timeout": IDLE_TIMEOUT}))


def first_connection(pki, port, session_file, close):
    """A TLS 1.2 connection that saves its session, sends one kept-alive request, reads the
    answer, then ends as `close` says: "kill" (the client process dies: no close_notify),
    "idle" (the gateway's idle timeout closes it), or "clean" (the client sends close_notify)."""
    require_program("openssl")
    args = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-servername", "localhost",
            "-CAfile", pki.path(pki.manifest["server"]["ca"]), "-verify_return_error",
            "-tls1_2", "-no_ticket", "-sess_out", session_file]
    if close != "clean":
        args.append("-ign_eof")  # stdin's end must not make it send close_notify
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        proc.stdin.write(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        proc.stdin.flush()
        seen = b""
        deadline = time.monotonic() + 10
        while b'"status":"serving"' not in seen:
            assert time.monotonic() < deadline, "no /healthz answer: %r" % seen[-500:]
            chunk = os.read(proc.stdout.fileno(), 65536)
            assert chunk, "s_client ended early: %r" % seen[-500:]
            seen += chunk
        assert b"New, TLSv1.2" in seen, seen[-2000:]
        if close == "kill":
            proc.send_signal(signal.SIGKILL)
            proc.wait(5)
        elif close == "idle":
            # The gateway's idle timeout ends the connection: the client sees EOF, with no
            # close_notify before it (s_client -ign_eof exits on it).
            proc.stdin.close()
            assert proc.wait(IDLE_TIMEOUT + 10) is not None
        else:
            proc.stdin.close()  # s_client answers the end of its input with close_notify
            proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    # The gateway frees the connection when it reads the end of it.
    time.sleep(0.5)
    # s_client saves a TLS 1.2 session only when the server gave it an ID to come back with.
    return os.path.exists(session_file) and os.path.getsize(session_file) > 0


def resumed(pki, port, session_file):
    rc, output = s_client(pki, port, None, extra=["-tls1_2", "-no_ticket", "-sess_in", session_file])
    assert rc == 0 and "HTTP/1.1 200" in output, output[-2000:]
    assert ("Reused, TLSv1.2" in output) != ("New, TLSv1.2" in output), output[-2000:]
    return "Reused, TLSv1.2" in output


@pytest.mark.parametrize("close", ["kill", "idle"])
def test_a_session_survives_a_close_without_close_notify(pki, gw, tmp_path, close):
    session = str(tmp_path / "session.pem")
    assert first_connection(pki, gw.port("public"), session, close), "the listener gave no session ID"
    assert resumed(pki, gw.port("public"), session), \
        "the session was dropped from the cache when the connection ended without close_notify (%s)" % close
    assert gw.alive()


def test_a_clean_close_by_the_client_keeps_the_session_too(pki, gw, tmp_path):
    # The client's close_notify is read, but the gateway closes without answering it: to
    # OpenSSL that too was a connection not shut down.
    session = str(tmp_path / "session.pem")
    assert first_connection(pki, gw.port("public"), session, "clean")
    assert resumed(pki, gw.port("public"), session)


def test_the_card_listener_never_resumes(pki, gw, tmp_path):
    session = str(tmp_path / "session.pem")
    if first_connection(pki, gw.port("login"), session, "kill"):
        assert not resumed(pki, gw.port("login"), session), "a listener that asks for the card resumed a session"
    # Nor with a session the public listener gave out (same certificate, same context ID).
    public = str(tmp_path / "public.pem")
    assert first_connection(pki, gw.port("public"), public, "clean")
    assert not resumed(pki, gw.port("login"), public), "the card listener resumed the public listener's session"
