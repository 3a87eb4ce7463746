"""TLS for `https://` listeners: PEM certificate and key files named by ksqlDB-style `ssl.*` properties.

ksqlDB reads JKS keystores; this server reads PEM files, as Kafka clients do with
`ssl.keystore.type=PEM`:

    ssl.keystore.location     PEM file with the server's certificate chain (and its private key,
                              unless ssl.key.location names another file)
    ssl.key.location          PEM file with the private key (optional)
    ssl.key.password          the private key's password, when it is encrypted (optional)
    ssl.truststore.location   PEM file of the CA certificates that sign client certificates
    ssl.client.authentication NONE (default), REQUESTED or REQUIRED: ask clients for a certificate

The files are loaded once at start-up, so a missing or unreadable file or a wrong
password stops `ksql-server` with a clear message instead of failing every handshake.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any

from ksql.errors import KsqlError
from server.config import ServerConfig

CLIENT_AUTH_MODES = {"NONE": ssl.CERT_NONE, "REQUESTED": ssl.CERT_OPTIONAL, "REQUIRED": ssl.CERT_REQUIRED}
ALPN_PROTOCOLS = ["h2", "http/1.1"]


@dataclass(frozen=True)
class TlsSettings:
    """The certificate, key and client-certificate policy of the server's https listeners."""

    certificate: str
    key: str
    key_password: str | None
    truststore: str | None
    client_auth: str

    @classmethod
    def from_config(cls, config: ServerConfig) -> TlsSettings:
        """The settings the config gives; KsqlError when a required one is missing or invalid."""
        store_type = str(config.get("ssl.keystore.type", "PEM")).strip().upper()
        if store_type != "PEM":
            raise KsqlError(f"Unsupported ssl.keystore.type {store_type}: this server reads PEM files "
                            "(convert a JKS or PKCS12 keystore with keytool/openssl)")
        certificate = _text(config, "ssl.keystore.location")
        if certificate is None:
            raise KsqlError("An https:// listener needs a certificate: set ssl.keystore.location to a PEM file "
                            "with the certificate chain (and ssl.key.location to its private key)")
        client_auth = str(config.get("ssl.client.authentication", "NONE")).strip().upper()
        if client_auth not in CLIENT_AUTH_MODES:
            raise KsqlError(f"Invalid ssl.client.authentication {client_auth}: NONE, REQUESTED or REQUIRED")
        truststore = _text(config, "ssl.truststore.location")
        if client_auth != "NONE" and truststore is None:
            raise KsqlError(f"ssl.client.authentication={client_auth} needs ssl.truststore.location: a PEM "
                            "file of the CA certificates that sign client certificates")
        return cls(certificate, _text(config, "ssl.key.location") or certificate,
                   config.get("ssl.key.password") or None, truststore, client_auth)

    def context(self) -> ssl.SSLContext:
        """A server context over the files (ALPN h2 and http/1.1); KsqlError naming the file that fails."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.set_alpn_protocols(ALPN_PROTOCOLS)
        _readable("ssl.keystore.location", self.certificate)
        _readable("ssl.key.location", self.key)
        try:
            context.load_cert_chain(self.certificate, self.key, self.key_password)
        except ssl.SSLError as err:
            raise KsqlError(f"Cannot load the certificate {self.certificate} and private key {self.key} "
                            f"(ssl.keystore.location, ssl.key.location, ssl.key.password): {err.reason or err}"
                            ) from None
        if self.truststore is not None:
            _readable("ssl.truststore.location", self.truststore)
            try:
                context.load_verify_locations(self.truststore)
            except ssl.SSLError as err:
                raise KsqlError(f"Cannot load the CA certificates in {self.truststore} "
                                f"(ssl.truststore.location): {err.reason or err}") from None
        context.verify_mode = CLIENT_AUTH_MODES[self.client_auth]
        return context

    def hypercorn_options(self) -> dict[str, Any]:
        """Hypercorn's Config attributes for these settings."""
        return {"certfile": self.certificate, "keyfile": self.key, "keyfile_password": self.key_password,
                "ca_certs": self.truststore, "verify_mode": CLIENT_AUTH_MODES[self.client_auth],
                "alpn_protocols": ALPN_PROTOCOLS}

    def uvicorn_options(self) -> dict[str, Any]:
        """uvicorn.Config's keyword arguments for these settings."""
        return {"ssl_certfile": self.certificate, "ssl_keyfile": self.key, "ssl_keyfile_password": self.key_password,
                "ssl_ca_certs": self.truststore, "ssl_cert_reqs": CLIENT_AUTH_MODES[self.client_auth]}


def _text(config: ServerConfig, name: str) -> str | None:
    value = str(config.get(name) or "").strip()
    return value or None


def _readable(setting: str, path: str) -> None:
    try:
        with open(path, "rb"):
            pass
    except OSError as err:
        raise KsqlError(f"Cannot read {setting} {path}: {err.strerror}") from None
