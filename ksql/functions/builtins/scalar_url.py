"""URL functions: URL_ENCODE_PARAM, URL_DECODE_PARAM and the URL_EXTRACT_* family.

ksqlDB parses with java.net.URI (ported in `java_uri`): a URL it cannot parse is an
error (the row's value becomes null and the processing log says why); a component the
URL lacks is null. Path, query and fragment come back percent-decoded, as URI's getters
return them; URL_EXTRACT_PARAMETER reads the raw query, so its values stay encoded.
"""

from __future__ import annotations

from ksql.errors import KsqlError
from ksql.functions.builtins.java_uri import JavaUri, UriSyntaxError, parse_uri, url_decode, url_encode
from ksql.functions.registry import scalar
from ksql.types import INTEGER, STRING

_CAT = "URL"


def _parse(url: str) -> JavaUri:
    try:
        return parse_uri(url)
    except UriSyntaxError as e:
        raise KsqlError(f"URL input has invalid syntax: {url} ({e})") from e


@scalar("url_encode_param", [STRING], STRING, category=_CAT, param_names=("input",),
        description="Escapes a value for a URL query parameter (application/x-www-form-urlencoded).")
def url_encode_param(s: str) -> str:
    return url_encode(s)


@scalar("url_decode_param", [STRING], STRING, category=_CAT, param_names=("input",),
        description="Decodes a URL-encoded query parameter value ('+' is a space).")
def url_decode_param(s: str) -> str:
    return url_decode(s)


@scalar("url_extract_fragment", [STRING], STRING, category=_CAT, param_names=("input",),
        description="The decoded fragment of a URL, or null.")
def url_extract_fragment(url: str) -> str | None:
    return _parse(url).get_fragment()


@scalar("url_extract_host", [STRING], STRING, category=_CAT, param_names=("input",),
        description="The host of a URL, or null.")
def url_extract_host(url: str) -> str | None:
    return _parse(url).host


@scalar("url_extract_parameter", [STRING, STRING], STRING, category=_CAT, param_names=("input", "parameter"),
        description="The (still encoded) value of the first query parameter with that name; empty when it "
                    "has no value, null when absent.")
def url_extract_parameter(url: str, name: str) -> str | None:
    query = _parse(url).query
    if query is None:
        return None
    for param in query.split("&"):
        key, eq, value = param.partition("=")
        if key == name:
            return value if eq else ""
    return None


@scalar("url_extract_path", [STRING], STRING, category=_CAT, param_names=("input",),
        description="The decoded path of a URL (empty when it has none; null for an opaque URI).")
def url_extract_path(url: str) -> str | None:
    return _parse(url).get_path()


@scalar("url_extract_port", [STRING], INTEGER, category=_CAT, param_names=("input",),
        description="The port of a URL, or null.")
def url_extract_port(url: str) -> int | None:
    port = _parse(url).port
    return None if port < 0 else port


@scalar("url_extract_protocol", [STRING], STRING, category=_CAT, param_names=("input",),
        description="The scheme (protocol) of a URL, or null.")
def url_extract_protocol(url: str) -> str | None:
    return _parse(url).scheme


@scalar("url_extract_query", [STRING], STRING, category=_CAT, param_names=("input",),
        description="The decoded query string of a URL, or null.")
def url_extract_query(url: str) -> str | None:
    return _parse(url).get_query()
