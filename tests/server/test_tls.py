"""https:// listeners: every endpoint over TLS (HTTP/2 by ALPN and HTTP/1.1), client certificates, and
clear start-up errors for bad certificate settings."""

from __future__ import annotations

import datetime as dt
import json
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from websockets.sync.client import connect

from tests.server.harness import REPO, ServerProcess, free_port, ksql
from tests.server.test_sse import events


def make_certificate(directory: Path, name: str, password: bytes | None = None) -> tuple[Path, Path]:
    """A self-signed certificate for localhost/127.0.0.1 and its key, as PEM files (the key encrypted
    with `password` when given)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(__import__("ipaddress").ip_address(
                                                            "127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    encryption = (serialization.BestAvailableEncryption(password) if password
                  else serialization.NoEncryption())
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           encryption))
    return cert_path, key_path


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_certificate(tmp_path_factory.mktemp("certs"), "server", b"s3cret")


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory, certificate: tuple[Path, Path]
               ) -> Iterator[ServerProcess]:
    cert, key = certificate
    https, http = free_port(), free_port()
    process = ServerProcess(
        tmp_path_factory.mktemp("tls") / "data",
        {"ksql.log.fsync": "never", "ssl.keystore.location": str(cert), "ssl.key.location": str(key),
         "ssl.key.password": "s3cret"},
        listeners=[f"https://127.0.0.1:{https}", f"http://127.0.0.1:{http}"],
        verify=ssl.create_default_context(cafile=str(cert))).start()
    try:
        yield process
    finally:
        process.kill()


def test_http2_over_tls_serves_statements_inserts_and_queries(tls_server: ServerProcess) -> None:
    with tls_server.client(http2=True) as client:
        info = client.get("/info")
        assert info.http_version == "HTTP/2" and info.json()["KsqlServerInfo"]["serverStatus"] == "RUNNING"
        ksql(client, "CREATE STREAM TLS1 (K STRING KEY, V INT) WITH (KAFKA_TOPIC='tls1', PARTITIONS=1, "
                     "VALUE_FORMAT='JSON');")
        body = b'{"target": "TLS1"}\n' + b"".join(b'{"K": "k%d", "V": %d}\n' % (i, i) for i in range(3))
        acks = client.post("/inserts-stream", content=body)
        assert acks.http_version == "HTTP/2"
        assert [json.loads(line)["status"] for line in acks.text.splitlines()] == ["ok"] * 3
        response = client.post("/query-stream", json={
            "sql": "SELECT V FROM TLS1 EMIT CHANGES LIMIT 3;", "properties": {"auto.offset.reset": "earliest"}})
        assert response.http_version == "HTTP/2"
        assert [json.loads(line) for line in response.text.splitlines()[1:]] == [[0], [1], [2]]
        pulled = client.post("/query", json={"ksql": "SELECT V FROM TLS1;"})
        assert [m["row"]["columns"] for m in pulled.json() if "row" in m] == [[0], [1], [2]]
    with tls_server.client() as http1:
        response = http1.post("/ksql", json={"ksql": "SHOW STREAMS;"})
        assert response.http_version == "HTTP/1.1" and response.status_code == 200


def test_sse_and_websocket_over_tls(tls_server: ServerProcess, certificate: tuple[Path, Path]) -> None:
    with tls_server.client() as client:
        ksql(client, "CREATE STREAM TLS2 (K STRING KEY, V INT) WITH (KAFKA_TOPIC='tls2', PARTITIONS=1, "
                     "VALUE_FORMAT='JSON');")
        ksql(client, "INSERT INTO TLS2 (K, V) VALUES ('a', 7);")
        params = {"sql": "SELECT V FROM TLS2 EMIT CHANGES LIMIT 1;",
                  "properties": '{"auto.offset.reset": "earliest"}'}
        with client.stream("GET", "/query/sse", params=params) as response:
            received = [e for e in events(response) if "data" in e]
        assert [e.get("event") for e in received] == ["header", None, "end"]
        assert json.loads(received[1]["data"]) == [7]
    request = json.dumps({"ksql": "SELECT V FROM TLS2 EMIT CHANGES LIMIT 1;",
                          "streamsProperties": {"auto.offset.reset": "earliest"}})
    url = tls_server.url.replace("https://", "wss://") + "/ws/query?" + httpx.QueryParams(request=request).__str__()
    with connect(url, ssl=ssl.create_default_context(cafile=str(certificate[0]))) as ws:
        assert json.loads(ws.recv(timeout=10))[0]["name"] == "V"
        assert json.loads(ws.recv(timeout=10)) == {"row": {"columns": [7]}}


def test_cleartext_listener_and_plain_http_to_the_tls_port(tls_server: ServerProcess) -> None:
    http_url = tls_server.listeners[1]
    assert httpx.get(http_url + "/healthcheck").json()["isHealthy"] is True
    plain = tls_server.url.replace("https://", "http://")
    with pytest.raises(httpx.HTTPError):
        httpx.get(plain + "/info", timeout=5)
    with tls_server.client() as client:  # the server shrugged it off
        assert client.get("/healthcheck").status_code == 200
    assert "Traceback" not in tls_server.output()


def test_client_certificates_when_required(tmp_path: Path, certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    client_cert, client_key = make_certificate(tmp_path, "client")
    verify = ssl.create_default_context(cafile=str(cert))
    server = ServerProcess(tmp_path / "data", {
        "ksql.log.fsync": "never", "ssl.keystore.location": str(cert), "ssl.key.location": str(key),
        "ssl.key.password": "s3cret", "ssl.truststore.location": str(client_cert),
        "ssl.client.authentication": "REQUIRED"},
        listeners=[f"https://127.0.0.1:{free_port()}"], verify=_with_client_cert(verify, client_cert, client_key))
    server.start()
    try:
        with pytest.raises(httpx.HTTPError):  # no client certificate: the handshake is refused
            httpx.get(server.url + "/info", verify=ssl.create_default_context(cafile=str(cert)), timeout=5)
        with server.client(http2=True) as client:
            assert client.get("/info").status_code == 200
    finally:
        server.kill()


def _with_client_cert(context: ssl.SSLContext, cert: Path, key: Path) -> ssl.SSLContext:
    context.load_cert_chain(str(cert), str(key))
    return context


@pytest.mark.parametrize("properties,message", [
    ({"ssl.keystore.location": "{dir}/missing.pem"}, "Cannot read ssl.keystore.location {dir}/missing.pem"),
    ({}, "needs a certificate: set ssl.keystore.location"),
    ({"ssl.keystore.location": "{cert}", "ssl.key.location": "{key}", "ssl.key.password": "wrong"},
     "Cannot load the certificate"),
    ({"ssl.keystore.location": "{key}", "ssl.key.location": "{key}", "ssl.key.password": "s3cret"},
     "Cannot load the certificate"),
    ({"ssl.keystore.location": "{cert}", "ssl.key.location": "{key}", "ssl.key.password": "s3cret",
      "ssl.client.authentication": "REQUIRED"}, "needs ssl.truststore.location"),
    ({"ssl.keystore.location": "{cert}", "ssl.keystore.type": "JKS"}, "Unsupported ssl.keystore.type JKS"),
])
def test_bad_tls_settings_stop_the_start_with_a_clear_error(tmp_path: Path, certificate: tuple[Path, Path],
                                                            properties: dict[str, str], message: str) -> None:
    cert, key = certificate
    names = {"dir": str(tmp_path), "cert": str(cert), "key": str(key)}
    args = [sys.executable, "-m", "server", "--listeners", f"https://127.0.0.1:{free_port()}",
            "--state-dir", str(tmp_path / "data"), "--kafka-listener", "none"]
    for name, value in properties.items():
        args += ["-D", f"{name}={value.format(**names)}"]
    done = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert message.format(**names) in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
