"""SIGTERM: stop accepting at once, let the request in flight finish (with /healthz saying
"draining"), close idle keep-alive connections, exit 0 within the drain deadline."""

import signal
import socket
import time

import pytest

from harness import read_response, request, tls_connect


@pytest.fixture
def gw(fresh_gateways):
    gateway = fresh_gateways.new("drain")
    return gateway.start(gateway.make_config(server={"drain_timeout": 5.0}))


def test_in_flight_request_finishes_and_new_clients_are_refused(pki, gw):
    port = gw.port()
    idle = tls_connect(pki, port, "ok1")
    assert request(idle, "/healthz").status == 200
    busy = tls_connect(pki, port, "ok1")
    assert request(busy, "/healthz").status == 200
    # A request whose head is only half sent when the signal arrives.
    busy.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
    time.sleep(0.2)
    gw.proc.send_signal(signal.SIGTERM)
    gw.wait_event(lambda e: e.get("event") == "stopping", timeout=5)
    time.sleep(0.3)

    # New connections: refused (the listening sockets are closed), not left in a backlog.
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    # The idle keep-alive connection was closed by the server.
    idle.settimeout(2)
    assert read_response(idle) is None
    # The request in flight completes; the answer says the gateway is draining and closes.
    busy.sendall(b"\r\n")
    response = read_response(busy)
    assert response is not None and response.status == 503, response
    assert response.json()["status"] == "draining"
    assert response.headers.get("connection") == "close"

    assert gw.proc.wait(timeout=10) == 0
    names = [e.get("event") for e in gw.events]
    assert "stopping" in names and "stopped" in names
