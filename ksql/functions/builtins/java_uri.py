"""java.net.URI parsing and java.net.URLEncoder/URLDecoder, as ksqlDB's URL functions see them.

ksqlDB's URL_* functions are thin wrappers over `new URI(input)` and its getters, and
over URLEncoder/URLDecoder. Python's urllib splits URLs differently (it accepts text
java.net.URI refuses, never falls back to a registry-based authority, decodes
differently), so this is a port of the JDK's RFC 2396 parser with its documented
deviations: empty authority, IPv6 literals, unescaped non-ASCII "other" characters.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from dataclasses import dataclass

from ksql.errors import KsqlError


class UriSyntaxError(KsqlError):
    """What java.net.URISyntaxException reports: the reason and the index."""


# --- character classes of RFC 2396 (as sets of ASCII characters) -----------------------------

_DIGIT = set("0123456789")
_ALPHA = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_ALPHANUM = _DIGIT | _ALPHA
_HEX = _DIGIT | set("abcdefABCDEF")
_MARK = set("-_.!~*'()")
_UNRESERVED = _ALPHANUM | _MARK
_RESERVED = set(";/?:@&=+$,[]")
_URIC = _RESERVED | _UNRESERVED
_PCHAR = _UNRESERVED | set(":@&=+$,")
_PATH = _PCHAR | set(";/")
_USERINFO = _UNRESERVED | set(";:&=+$,")
_REG_NAME = _UNRESERVED | set("$,;:@&=+")
_SERVER = _USERINFO | _ALPHANUM | set("-.:@[]")
_SERVER_PERCENT = _SERVER | {"%"}
_SCHEME = _ALPHA | _DIGIT | set("+-.")
_SCOPE_ID = _ALPHANUM | set("_.")


def _visible_non_ascii(c: str) -> bool:
    """URI's 'other' category: unescaped non-US-ASCII characters that are neither space nor control."""
    o = ord(c)
    if o <= 128:
        return False
    if 0x7F <= o <= 0x9F:  # Character.isISOControl
        return False
    return unicodedata.category(c) not in ("Zs", "Zl", "Zp")  # Character.isSpaceChar


@dataclass
class JavaUri:
    """The components java.net.URI exposes (raw, i.e. still percent-encoded)."""

    scheme: str | None = None
    scheme_specific_part: str | None = None
    authority: str | None = None
    user_info: str | None = None
    host: str | None = None
    port: int = -1
    path: str | None = None
    query: str | None = None
    fragment: str | None = None

    # the decoded getters (URI.getPath(), getQuery(), getFragment())
    def get_path(self) -> str | None:
        return uri_decode(self.path)

    def get_query(self) -> str | None:
        return uri_decode(self.query)

    def get_fragment(self) -> str | None:
        return uri_decode(self.fragment)


_IPV4 = re.compile(r"(\d+)\.(\d+)\.(\d+)\.(\d+)")


class _Parser:
    def __init__(self, text: str) -> None:
        self.s = text
        self.n = len(text)
        self.uri = JavaUri()

    def fail(self, reason: str, index: int) -> UriSyntaxError:
        return UriSyntaxError(f"{reason} at index {index}: {self.s}")

    def expecting(self, what: str, index: int) -> UriSyntaxError:
        return self.fail(f"Expected {what}", index)

    def at(self, p: int, end: int, c: str) -> bool:
        return p < end and self.s[p] == c

    def scan_stop(self, start: int, end: int, err: str, stop: str) -> int:
        p = start
        while p < end:
            c = self.s[p]
            if c in err:
                return -1
            if c in stop:
                break
            p += 1
        return p

    def scan_set(self, start: int, end: int, allowed: set[str], escaped: bool) -> int:
        p = start
        s = self.s
        while p < end:
            c = s[p]
            if c in allowed:
                p += 1
                continue
            if escaped:
                if c == "%":
                    if p + 3 <= end and s[p + 1] in _HEX and s[p + 2] in _HEX:
                        p += 3
                        continue
                    raise self.fail("Malformed escape pair", p)
                if _visible_non_ascii(c):
                    p += 1
                    continue
            break
        return p

    def check(self, start: int, end: int, allowed: set[str], what: str, escaped: bool = True) -> None:
        p = self.scan_set(start, end, allowed, escaped)
        if p < end:
            raise self.fail(f"Illegal character in {what}", p)

    def parse(self) -> JavaUri:
        s, n, u = self.s, self.n, self.uri
        if n == 0:
            u.path = ""
            return u
        p = self.scan_stop(0, n, "/?#", ":")
        if p >= 0 and self.at(p, n, ":"):
            if p == 0:
                raise self.expecting("scheme name", 0)
            if s[0] not in _ALPHA:
                raise self.fail("Illegal character in scheme name", 0)
            self.check(1, p, _SCHEME, "scheme name", escaped=False)
            u.scheme = s[:p]
            p += 1
            if self.at(p, n, "/"):
                p = self.hierarchical(p, n)
            else:
                q = self.scan_stop(p, n, "", "#")
                if q <= p:
                    raise self.expecting("scheme-specific part", p)
                self.check(p, q, _URIC, "opaque part")
                u.scheme_specific_part = s[p:q]
                p = q
        else:
            p = self.hierarchical(0, n)
        if self.at(p, n, "#"):
            self.check(p + 1, n, _URIC, "fragment")
            u.fragment = s[p + 1:]
            p = n
        if p < n:
            raise self.fail("Expected end of URI", p)
        return u

    def hierarchical(self, start: int, n: int) -> int:
        s, u = self.s, self.uri
        p = start
        if self.at(p, n, "/") and self.at(p + 1, n, "/"):
            p += 2
            q = self.scan_stop(p, n, "", "/?#")
            if q > p:
                p = self.authority(p, q)
            elif q >= n:
                raise self.expecting("authority", p)
        q = self.scan_stop(p, n, "", "?#")
        self.check(p, q, _PATH, "path")
        u.path = s[p:q]
        p = q
        if self.at(p, n, "?"):
            p += 1
            q = self.scan_stop(p, n, "", "#")
            self.check(p, q, _URIC, "query")
            u.query = s[p:q]
            p = q
        return p

    def authority(self, start: int, n: int) -> int:
        s, u = self.s, self.uri
        p = start
        if self.scan_stop(p, n, "", "]") > p:
            server_chars = self.scan_set(p, n, _SERVER_PERCENT, False) == n
        else:
            server_chars = self.scan_set(p, n, _SERVER, False) == n
        qreg = self.scan_set(p, n, _REG_NAME, True)
        reg_chars = qreg == n
        if reg_chars and not server_chars:
            u.authority = s[p:n]
            return n
        q = p
        ex: UriSyntaxError | None = None
        if server_chars:
            try:
                q = self.server(p, n)
                if q < n:
                    raise self.expecting("end of authority", q)
                u.authority = s[p:n]
            except UriSyntaxError as e:
                u.user_info, u.host, u.port = None, None, -1
                ex = e
                q = p
        if q < n:
            if reg_chars:
                u.authority = s[p:n]
            elif ex is not None:
                raise ex
            else:
                raise self.fail("Illegal character in authority", q if server_chars else qreg)
        return n

    def server(self, start: int, n: int) -> int:
        s, u = self.s, self.uri
        p = start
        q = self.scan_stop(p, n, "/?#", "@")
        if q >= p and self.at(q, n, "@"):
            self.check(p, q, _USERINFO, "user info")
            u.user_info = s[p:q]
            p = q + 1
        if self.at(p, n, "["):
            p += 1
            q = self.scan_stop(p, n, "/?#", "]")
            if q > p and self.at(q, n, "]"):
                r = self.scan_stop(p, q, "", "%")
                if r > p and r < q:
                    self.ipv6(p, r)
                    if r + 1 == q:
                        raise self.fail("scope id expected", r)
                    self.check(r + 1, q, _SCOPE_ID, "scope id", escaped=False)
                else:
                    self.ipv6(p, q)
                u.host = s[p - 1:q + 1]
                p = q + 1
            else:
                raise self.expecting("closing bracket for IPv6 address", q)
        else:
            q = self.ipv4(p, n)
            if q <= p:
                q = self.hostname(p, n)
            p = q
        if self.at(p, n, ":"):
            p += 1
            q = self.scan_stop(p, n, "", "/")
            if q > p:
                self.check(p, q, _DIGIT, "port number", escaped=False)
                port = int(s[p:q])
                if port > 2**31 - 1:
                    raise self.fail("Malformed port number", p)
                u.port = port
                p = q
        if p < n:
            raise self.expecting("port number", p)
        return p

    def ipv6(self, start: int, end: int) -> None:
        try:
            ipaddress.IPv6Address(self.s[start:end])
        except ValueError:
            raise self.fail("Malformed IPv6 address", start) from None

    def ipv4(self, start: int, n: int) -> int:
        """The end of an IPv4 address at `start` (also setting host), or -1."""
        s = self.s
        m = self.scan_set(start, n, _DIGIT | {"."}, False)
        if m <= start:
            return -1
        match = _IPV4.match(s, start, m)
        if not match or match.end() != m or any(int(g) > 255 for g in match.groups()):
            return -1
        p = m
        if p < n and s[p] != ":":
            return -1
        self.uri.host = s[start:p]
        return p

    def hostname(self, start: int, n: int) -> int:
        s = self.s
        p = start
        last = -1
        while True:
            q = self.scan_set(p, n, _ALPHANUM, False)
            if q <= p:
                break
            last = p
            p = q
            q = self.scan_set(p, n, _ALPHANUM | {"-"}, False)
            if q > p:
                if s[q - 1] == "-":
                    raise self.fail("Illegal character in hostname", q - 1)
                p = q
            if not self.at(p, n, "."):
                break
            p += 1
            if p >= n:
                break
        if p < n and not self.at(p, n, ":"):
            raise self.fail("Illegal character in hostname", p)
        if last < 0:
            raise self.expecting("hostname", start)
        if last > start and s[last] not in _ALPHA:
            raise self.fail("Illegal character in hostname", last)
        self.uri.host = s[start:p]
        return p


def parse_uri(text: str) -> JavaUri:
    """`new URI(text)`: its components, or UriSyntaxError."""
    return _Parser(text).parse()


def uri_decode(s: str | None) -> str | None:
    """URI's decoding of a component: runs of %XX are UTF-8 (malformed -> U+FFFD); not inside [..]."""
    if s is None or "%" not in s:
        return s
    out: list[str] = []
    i, n = 0, len(s)
    in_brackets = False
    while i < n:
        c = s[i]
        if c == "[":
            in_brackets = True
        elif in_brackets and c == "]":
            in_brackets = False
        if c != "%" or in_brackets:
            out.append(c)
            i += 1
            continue
        buf = bytearray()
        while True:  # components were validated: every % starts a complete %XX
            buf.append(int(s[i + 1:i + 3], 16))
            i += 3
            if i >= n or s[i] != "%":
                break
        out.append(buf.decode("utf-8", errors="replace"))
    return "".join(out)


# --- URLEncoder / URLDecoder (application/x-www-form-urlencoded) ------------------------------

_FORM_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.*")
_HEX2 = re.compile(r"[+-]?[0-9a-fA-F]{1,2}")


def url_encode(s: str) -> str:
    """URLEncoder.encode(s, UTF_8): space -> '+', unsafe characters -> %XX of their UTF-8 bytes."""
    out: list[str] = []
    run: list[str] = []

    def flush() -> None:
        if run:
            data = "".join(run).encode("utf-8", errors="replace")
            out.append("".join(f"%{b:02X}" for b in data))
            run.clear()

    for c in s:
        if c in _FORM_SAFE:
            flush()
            out.append(c)
        elif c == " ":
            flush()
            out.append("+")
        else:
            run.append(c)
    flush()
    return "".join(out)


def url_decode(s: str) -> str:
    """URLDecoder.decode(s, UTF_8): '+' -> space, runs of %XX as UTF-8; bad escapes raise."""
    out: list[str] = []
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c == "+":
            out.append(" ")
            i += 1
        elif c == "%":
            buf = bytearray()
            while i + 2 < n and c == "%":
                pair = s[i + 1:i + 3]
                if not _HEX2.fullmatch(pair):
                    raise KsqlError(f'URLDecoder: Illegal hex characters in escape (%) pattern - '
                                    f'Error at index 0 in: "{pair}"')
                v = int(pair, 16)
                if v < 0:
                    raise KsqlError("URLDecoder: Illegal hex characters in escape (%) pattern - negative value")
                buf.append(v)
                i += 3
                if i < n:
                    c = s[i]
            if i < n and c == "%":
                raise KsqlError("URLDecoder: Incomplete trailing escape (%) pattern")
            out.append(buf.decode("utf-8", errors="replace"))
        else:
            out.append(c)
            i += 1
    return "".join(out)


__all__ = ["JavaUri", "UriSyntaxError", "parse_uri", "uri_decode", "url_decode", "url_encode"]
