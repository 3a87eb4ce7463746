"""Server configuration (properties file, environment, flags) and Basic authentication."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import httpx
import pytest

from ksql.errors import KsqlError
from server.auth import read_users, users_from_config
from server.config import Listener, ServerConfig, env_properties, read_properties
from server.main import parse_args
from tests.server.harness import ServerProcess


def test_properties_file_syntax() -> None:
    text = "# comment\n! other\nlisteners = http://a:1\nksql.service.id: svc_\nkey value\n" \
           "long = one \\\n    two\nescaped\\=key = x\\ty\n\n"
    assert read_properties(text) == {"listeners": "http://a:1", "ksql.service.id": "svc_", "key": "value",
                                     "long": "one two", "escaped=key": "x\ty"}


def test_environment_variables_follow_confluents_docker_naming() -> None:
    env = {"KSQL_KSQL_SERVICE_ID": "x_", "KSQL_LISTENERS": "http://h:2", "KSQL_HEAP_OPTS": "-Xmx1g",
           "KSQL_KSQL_STREAMS_NUM__STREAM__THREADS": "2", "KSQL_A___B": "dash", "OTHER": "no"}
    assert env_properties(env) == {"ksql.service.id": "x_", "listeners": "http://h:2",
                                   "ksql.streams.num_stream_threads": "2", "a-b": "dash"}


def test_flags_override_environment_override_file(tmp_path: Path) -> None:
    config_file = tmp_path / "ksql-server.properties"
    config_file.write_text("listeners=http://0.0.0.0:1\nksql.service.id=file_\nstate.dir=/file\n"
                           "ksql.streams.auto.offset.reset=earliest\n")
    args, overrides = parse_args(["--config-file", str(config_file), "--listeners", "http://127.0.0.1:9",
                                  "-D", "ksql.query.push.v2.enabled=true"])
    config = ServerConfig.load(args.config_file, overrides, {"KSQL_KSQL_SERVICE_ID": "env_"})
    assert config.listeners == [Listener("127.0.0.1", 9, tls=False)]
    assert config.service_id == "env_" and config.data_dir == "/file"
    assert config.engine_properties["ksql.streams.auto.offset.reset"] == "earliest"
    assert "listeners" not in config.engine_properties
    assert ServerConfig.load().data_dir == "./ksql-data" and ServerConfig().listeners == [Listener("0.0.0.0", 8088)]
    both = ServerConfig({"listeners": "https://127.0.0.1:8443, http://[::1]:8088"}).listeners
    assert both == [Listener("127.0.0.1", 8443, tls=True), Listener("::1", 8088, tls=False)]
    assert [listener.url for listener in both] == ["https://127.0.0.1:8443", "http://[::1]:8088"]


@pytest.mark.parametrize("props,message", [
    ({"listeners": "ftp://a:1"}, "use http:// or https://"), ({"listeners": "http://a:port"}, "bad port"),
    ({"ksql.max.push.queries": "many"}, "must be an integer"),
])
def test_bad_configuration_is_a_clear_error(props: dict, message: str) -> None:
    config = ServerConfig(props)
    with pytest.raises(KsqlError, match=message):
        _ = config.listeners if "listeners" in props else config.get_int("ksql.max.push.queries", 1)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(KsqlError, match="Cannot read the config file"):
        ServerConfig.load(str(tmp_path / "nope.properties"))


def test_credentials() -> None:
    users = read_users("# users\nalice: secret, admin\nbob: MD5:" + hashlib.md5(b"pw").hexdigest() + "\n")
    assert users["alice"].accepts("secret") and not users["alice"].accepts("Secret")
    assert users["alice"].roles == {"admin"} and users["bob"].accepts("pw")
    assert users_from_config(ServerConfig({})) is None
    inline = users_from_config(ServerConfig({"authentication.method": "BASIC",
                                             "authentication.basic.users": "a:1,b:2"}))
    assert inline is not None and inline["b"].accepts("2")
    with pytest.raises(KsqlError, match="needs users"):
        users_from_config(ServerConfig({"authentication.method": "BASIC"}))
    with pytest.raises(KsqlError, match="Unsupported authentication.method"):
        users_from_config(ServerConfig({"authentication.method": "OAUTH"}))


def test_basic_authentication_guards_every_endpoint_but_healthcheck(tmp_path: Path) -> None:
    credentials = tmp_path / "users.properties"
    credentials.write_text("alice: secret,user\nmallory: pw,guest\n")
    server = ServerProcess(tmp_path / "data", {
        "authentication.method": "BASIC", "authentication.basic.credentials.file": str(credentials),
        "authentication.roles": "user", "ksql.log.fsync": "never"}).start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as c:
            assert c.get("/healthcheck").status_code == 200
            refused = c.post("/ksql", json={"ksql": "SHOW STREAMS;"})
            assert refused.status_code == 401 and refused.json()["error_code"] == 40100
            assert refused.headers["www-authenticate"].startswith("Basic")
            assert c.get("/info", auth=("alice", "wrong")).status_code == 401
            assert c.get("/info", auth=("mallory", "pw")).status_code == 401  # no allowed role
            assert c.get("/info", headers={"authorization": "Basic !!!"}).status_code == 401
            ok = c.post("/ksql", json={"ksql": "SHOW STREAMS;"}, auth=("alice", "secret"))
            assert ok.status_code == 200
            token = base64.b64encode(b"alice:secret").decode()
            assert c.get("/query/sse", headers={"authorization": f"Basic {token}"}).status_code == 400
    finally:
        server.kill()


@pytest.mark.parametrize("props,guarantee", [
    ({}, "at_least_once"),
    ({"ksql.streams.processing.guarantee": "exactly_once_v2"}, "exactly_once_v2"),
    ({"processing.guarantee": "exactly_once"}, "exactly_once_v2"),  # v1 means v2, as in Kafka 3
    ({"ksql.streams.processing.guarantee": "AT_LEAST_ONCE", "processing.guarantee": "exactly_once_v2"},
     "at_least_once"),
])
def test_processing_guarantee_accepts_ksqldb_spellings(props: dict, guarantee: str) -> None:
    assert ServerConfig(props).processing_guarantee == guarantee


def test_an_unknown_processing_guarantee_is_a_clear_error() -> None:
    with pytest.raises(KsqlError, match="Invalid value for processing.guarantee: 'twice'. It must be one of"):
        _ = ServerConfig({"processing.guarantee": "twice"}).processing_guarantee
