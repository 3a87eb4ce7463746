"""java.util.regex on Python's `re`: pattern translation and Matcher's find/replace/split loops.

ksqlDB's regular-expression functions take Java patterns. Python's `re` differs in
syntax (\\p{..} properties, \\Q..\\E quoting, nested and intersected character classes,
(?<name>..) groups, mid-pattern inline flags, \\z/\\Z, \\h/\\v/\\R), in semantics
(`.`, `^` and `$` know every Java line terminator; \\w, \\d, \\s and case folding are
ASCII-only unless (?u)/(?U)) and in what it rejects (Java refuses a `{` that is not a
repetition). `compile_java` translates a Java pattern into an equivalent Python one;
`find_all`, `replace_all` and `split` reproduce Matcher.find / String.replaceAll /
Pattern.split, including where they continue after an empty match.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache

from ksql.errors import KsqlError


class JavaRegexError(KsqlError):
    """A pattern java.util.regex would refuse (PatternSyntaxException)."""


# --- flags ----------------------------------------------------------------------------

_FLAG_LETTERS = "idmsuxU"  # CASE_INSENSITIVE, UNIX_LINES, MULTILINE, DOTALL, UNICODE_CASE, COMMENTS, UNICODE_CHARACTER_CLASS


@dataclass(frozen=True)
class _Flags:
    i: bool = False
    d: bool = False
    m: bool = False
    s: bool = False
    u: bool = False
    x: bool = False
    U: bool = False

    def with_(self, on: str, off: str) -> _Flags:
        vals = {k: getattr(self, k) for k in _FLAG_LETTERS}
        for c in on:
            vals[c] = True
        for c in off:
            vals[c] = False
        if "U" in on:  # UNICODE_CHARACTER_CLASS implies UNICODE_CASE
            vals["u"] = True
        return _Flags(**vals)

    def case_prefix(self) -> str:
        """The Python scoped-flag group opening that gives this case-folding mode."""
        if not self.i:
            return "(?-i:"
        return "(?i:" if (self.u or self.U) else "(?ai:"


# --- character sets -----------------------------------------------------------------------

_LINE_TERMS = "\n\r\u0085\u2028\u2029"


def _esc_class_char(cp: int) -> str:
    """One code point written safely inside a Python character class."""
    if cp < 0x80:
        c = chr(cp)
        if c.isalnum():
            return c
        return f"\\x{cp:02x}"
    if cp <= 0xFFFF:
        return f"\\u{cp:04x}"
    return f"\\U{cp:08x}"


def _ranges_to_class(ranges: list[tuple[int, int]]) -> str:
    out = []
    for lo, hi in ranges:
        if lo == hi:
            out.append(_esc_class_char(lo))
        else:
            out.append(_esc_class_char(lo) + "-" + _esc_class_char(hi))
    return "".join(out)


def _text_ranges(spec: str) -> list[tuple[int, int]]:
    """'a-zA-Z_' -> code point ranges."""
    out, i = [], 0
    while i < len(spec):
        if i + 2 < len(spec) and spec[i + 1] == "-":
            out.append((ord(spec[i]), ord(spec[i + 2])))
            i += 3
        else:
            out.append((ord(spec[i]), ord(spec[i])))
            i += 1
    return out


_POSIX = {
    "Lower": "a-z", "Upper": "A-Z", "ASCII": "\x00-\x7f", "Alpha": "a-zA-Z", "Digit": "0-9",
    "Alnum": "a-zA-Z0-9", "Punct": "!-/:-@[-`{-~", "Graph": "!-~", "Print": " -~", "Blank": " \t",
    "Cntrl": "\x00-\x1f\x7f", "XDigit": "0-9a-fA-F", "Space": " \t\n\x0b\x0c\r",
}

_GENERAL = {"L", "M", "N", "P", "S", "Z", "C"}
_CATEGORIES = set("Cn Lu Ll Lt Lm Lo Mn Me Mc Nd Nl No Zs Zl Zp Cc Cf Co Cs Pd Ps Pe Pc Po Sm Sc Sk So Pi Pf".split())


@lru_cache(maxsize=1)
def _category_table() -> dict[str, list[tuple[int, int]]]:
    """Every Unicode general category as code point ranges (computed once, on first use)."""
    table: dict[str, list[tuple[int, int]]] = {}
    cat_of = unicodedata.category
    prev, start = None, 0
    for cp in range(sys.maxunicode + 1):
        c = cat_of(chr(cp))
        if c != prev:
            if prev is not None:
                table.setdefault(prev, []).append((start, cp - 1))
            prev, start = c, cp
    assert prev is not None
    table.setdefault(prev, []).append((start, sys.maxunicode))
    return table


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _categories(*cats: str) -> list[tuple[int, int]]:
    table = _category_table()
    out: list[tuple[int, int]] = []
    for c in cats:
        if len(c) == 1:
            for k, v in table.items():
                if k[0] == c:
                    out.extend(v)
        else:
            out.extend(table.get(c, []))
    return _merge(out)


@lru_cache(maxsize=64)
def _predicate_ranges(pred_name: str) -> tuple[tuple[int, int], ...]:
    """Code point ranges of a character predicate computed from unicodedata."""
    preds: dict[str, Callable[[str], bool]] = {
        "LOWERCASE": str.islower, "UPPERCASE": str.isupper,
        "WHITE_SPACE": lambda c: c.isspace() and c not in "\x1c\x1d\x1e\x1f",
        "JAVA_WHITESPACE": lambda c: (unicodedata.category(c) in ("Zs", "Zl", "Zp") and c not in
                                      "\u00a0\u2007\u202f") or c in "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f",
        "MIRRORED": lambda c: bool(unicodedata.mirrored(c)),
        "IDEOGRAPHIC": lambda c: unicodedata.name(c, "").startswith(("CJK UNIFIED IDEOGRAPH",
                                                                     "CJK COMPATIBILITY IDEOGRAPH")),
        "NONCHARACTER": lambda c: (0xFDD0 <= ord(c) <= 0xFDEF) or (ord(c) & 0xFFFE) == 0xFFFE,
    }
    p = preds[pred_name]
    out, start = [], None
    for cp in range(sys.maxunicode + 1):
        if p(chr(cp)):
            if start is None:
                start = cp
        elif start is not None:
            out.append((start, cp - 1))
            start = None
    if start is not None:
        out.append((start, sys.maxunicode))
    return tuple(out)


_CASED_ALIASES = {"Lu", "Ll", "Lt", "javaLowerCase", "javaUpperCase", "IsLowercase", "IsUppercase",
                  "IsLowerCase", "IsUpperCase", "IsTitlecase"}


def _property(name: str, unicode_classes: bool, case_insensitive: bool = False
              ) -> tuple[list[tuple[int, int]], bool] | None:
    """Ranges for a \\p{name} (and whether they are to be complemented), or None if unknown.

    Under CASE_INSENSITIVE, Java widens the cased-letter properties to every cased letter.
    """
    if case_insensitive and name in _CASED_ALIASES:
        return _merge(_categories("Lu", "Ll", "Lt") + list(_predicate_ranges("LOWERCASE"))
                      + list(_predicate_ranges("UPPERCASE"))), False
    if "=" in name:
        key, value = name.split("=", 1)
        if key.lower() in ("gc", "general_category"):
            return _property(value, False, case_insensitive)
        return None
    if name.startswith("In"):
        return None  # Unicode blocks: no table in Python's unicodedata
    if name.startswith("Is"):
        short = name[2:]
        r = _binary_property(short.upper().replace(" ", "_").replace("-", "_"))
        if r is not None:
            return r, False
        return _property(short, False)
    if unicode_classes and name in _POSIX:
        r = _binary_property({"Lower": "LOWERCASE", "Upper": "UPPERCASE", "Alpha": "ALPHABETIC",
                              "Digit": "DIGIT", "Alnum": "ALNUM", "Punct": "PUNCTUATION", "Graph": "GRAPH",
                              "Print": "PRINT", "Blank": "BLANK", "Cntrl": "CONTROL",
                              "XDigit": "HEX_DIGIT", "Space": "WHITE_SPACE", "ASCII": "ASCII"}[name])
        if r is not None:
            return r, False
    if name in _POSIX:
        return _text_ranges(_POSIX[name]), False
    if name in _GENERAL or name in _CATEGORIES:
        return _categories(name), False
    if name == "LC":
        return _categories("Lu", "Ll", "Lt"), False
    if name == "LD":
        return _categories("L", "Nd"), False
    if name == "L1":
        return [(0, 0xFF)], False
    if name == "all":
        return [(0, sys.maxunicode)], False
    java = {
        "javaLowerCase": lambda: list(_predicate_ranges("LOWERCASE")),
        "javaUpperCase": lambda: list(_predicate_ranges("UPPERCASE")),
        "javaWhitespace": lambda: list(_predicate_ranges("JAVA_WHITESPACE")),
        "javaMirrored": lambda: list(_predicate_ranges("MIRRORED")),
        "javaDigit": lambda: _categories("Nd"),
        "javaLetter": lambda: _categories("L"),
        "javaLetterOrDigit": lambda: _categories("L", "Nd"),
        "javaAlphabetic": lambda: _categories("L", "Nl"),
        "javaTitleCase": lambda: _categories("Lt"),
        "javaSpaceChar": lambda: _categories("Zs", "Zl", "Zp"),
        "javaISOControl": lambda: [(0, 0x1F), (0x7F, 0x9F)],
        "javaDefined": lambda: _categories("Cn"),
    }
    if name in java:
        return java[name](), name == "javaDefined"
    return None


def _binary_property(name: str) -> list[tuple[int, int]] | None:
    """java.util.regex's \\p{IsXxx} binary properties (UnicodeProp)."""
    simple: dict[str, Callable[[], list[tuple[int, int]]]] = {
        "ALPHABETIC": lambda: _categories("L", "Nl"),
        "LETTER": lambda: _categories("L"),
        "LOWERCASE": lambda: list(_predicate_ranges("LOWERCASE")),
        "UPPERCASE": lambda: list(_predicate_ranges("UPPERCASE")),
        "TITLECASE": lambda: _categories("Lt"),
        "PUNCTUATION": lambda: _categories("P"),
        "CONTROL": lambda: _categories("Cc"),
        "WHITE_SPACE": lambda: list(_predicate_ranges("WHITE_SPACE")),
        "WHITESPACE": lambda: list(_predicate_ranges("WHITE_SPACE")),
        "DIGIT": lambda: _categories("Nd"),
        "HEX_DIGIT": lambda: _merge(_text_ranges("0-9a-fA-F") + [(0xFF10, 0xFF19), (0xFF21, 0xFF26),
                                                                (0xFF41, 0xFF46)]),
        "HEXDIGIT": lambda: _merge(_text_ranges("0-9a-fA-F") + [(0xFF10, 0xFF19), (0xFF21, 0xFF26),
                                                               (0xFF41, 0xFF46)]),
        "ASSIGNED": lambda: _complement(_categories("Cn")),
        "NONCHARACTER_CODE_POINT": lambda: list(_predicate_ranges("NONCHARACTER")),
        "NONCHARACTERCODEPOINT": lambda: list(_predicate_ranges("NONCHARACTER")),
        "JOIN_CONTROL": lambda: [(0x200C, 0x200D)],
        "JOINCONTROL": lambda: [(0x200C, 0x200D)],
        "IDEOGRAPHIC": lambda: list(_predicate_ranges("IDEOGRAPHIC")),
        "ALNUM": lambda: _categories("L", "Nl", "Nd"),
        "BLANK": lambda: _merge(_categories("Zs") + [(9, 9)]),
        "WORD": lambda: _merge(_categories("L", "Nl", "Mn", "Me", "Mc", "Nd", "Pc") + [(0x200C, 0x200D)]),
        "GRAPH": lambda: _complement(_merge(list(_predicate_ranges("WHITE_SPACE")) + _categories("Cc", "Cs", "Cn"))),
        "PRINT": lambda: _merge(_complement(_merge(list(_predicate_ranges("WHITE_SPACE"))
                                                   + _categories("Cc", "Cs", "Cn"))) + _categories("Zs") + [(9, 9)]),
        "ASCII": lambda: [(0, 0x7F)],
    }
    f = simple.get(name)
    return f() if f else None


def _complement(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out, nxt = [], 0
    for lo, hi in _merge(ranges):
        if lo > nxt:
            out.append((nxt, lo - 1))
        nxt = hi + 1
    if nxt <= sys.maxunicode:
        out.append((nxt, sys.maxunicode))
    return out


# --- character class trees (Java's union / intersection / negation) ------------------------


@dataclass
class _Set:
    parts: list[str] = field(default_factory=list)  # Python class fragments
    negated: bool = False


@dataclass
class _Union:
    items: list[object]


@dataclass
class _And:
    left: object
    right: object


@dataclass
class _Not:
    inner: object


def _emit_class(node: object) -> str:
    """A Python expression matching exactly one character of the class tree."""
    if isinstance(node, _Set):
        body = "".join(node.parts)
        if not body:
            return "[\\s\\S]" if node.negated else "(?!)"
        return f"[{'^' if node.negated else ''}{body}]"
    if isinstance(node, _Union):
        sets = [n for n in node.items if isinstance(n, _Set) and not n.negated]
        if len(sets) == len(node.items):
            return _emit_class(_Set([p for s in sets for p in s.parts]))
        return "(?:" + "|".join(_emit_class(n) for n in node.items) + ")"
    if isinstance(node, _And):
        return f"(?:(?={_emit_class(node.left)}){_emit_class(node.right)})"
    assert isinstance(node, _Not)
    inner = node.inner
    if isinstance(inner, _Set):
        return _emit_class(_Set(inner.parts, not inner.negated))
    return f"(?:(?!{_emit_class(inner)})[\\s\\S])"


def _negate(node: object) -> object:
    if isinstance(node, _Set):
        return _Set(node.parts, not node.negated)
    if isinstance(node, _Not):
        return node.inner
    return _Not(node)


def _union(a: object | None, b: object) -> object:
    if a is None:
        return b
    if isinstance(a, _Union):
        return _Union(a.items + [b])
    return _Union([a, b])


# --- the translator --------------------------------------------------------------------------


_SIMPLE_ESCAPES = {"t": 9, "n": 10, "r": 13, "f": 12, "a": 7, "e": 27}


class _Translator:
    """One pass over a Java pattern, writing the equivalent Python pattern."""

    def __init__(self, pattern: str, flags: _Flags) -> None:
        self.p = pattern
        self.i = 0
        self.flags = flags
        self.out: list[str] = []
        self.groups = 0
        self.open_groups: list[int] = []  # capturing groups not yet closed
        self.names: set[str] = set()

    def error(self, msg: str, at: int | None = None) -> JavaRegexError:
        idx = self.i if at is None else at
        return JavaRegexError(f"{msg} near index {idx}\n{self.p}")

    # reading, honouring COMMENTS mode outside \Q..\E
    def _skip_comments(self) -> None:
        if not self.flags.x:
            return
        while self.i < len(self.p):
            c = self.p[self.i]
            if c in " \t\n\x0b\x0c\r":
                self.i += 1
            elif c == "#":
                while self.i < len(self.p) and self.p[self.i] not in _LINE_TERMS:
                    self.i += 1
            else:
                return

    def peek(self) -> str:
        self._skip_comments()
        return self.p[self.i] if self.i < len(self.p) else ""

    def next(self) -> str:
        c = self.peek()
        self.i += 1
        return c

    def raw(self) -> str:
        c = self.p[self.i] if self.i < len(self.p) else ""
        self.i += 1
        return c

    # --- top level
    def translate(self) -> str:
        self.out.append(self.flags.case_prefix())
        self._alternation(top=True)
        self.out.append(")")
        return "".join(self.out)

    def _alternation(self, top: bool) -> None:
        """Branches up to the closing ')' of the current group (or the end)."""
        opened = 0  # scoped-flag groups opened by (?flags) in this group
        saved = self.flags
        while True:
            c = self.peek()
            if c == "":
                if not top:
                    raise self.error("Unclosed group", len(self.p))
                break
            if c == ")":
                if top:
                    raise self.error("Unmatched closing ')'", self.i - 1 if self.i else 0)
                break
            if c == "|":
                self.i += 1
                self.out.append(")" * opened + "|")
                if opened:  # Java's inline flags reach past '|' to the end of the group
                    self.out.append(self.flags.case_prefix())
                    opened = 1
                continue
            if c == "(" and self.p.startswith("(?", self.i) and self._inline_flags():
                self.out.append(self.flags.case_prefix())
                opened += 1
                continue
            self._quantified_atom()
        self.out.append(")" * opened)
        self.flags = saved

    def _inline_flags(self) -> bool:
        """A '(?idmsux-idmsux)' setting: apply it and report True; otherwise leave it."""
        m = re.compile(r"\(\?([idmsuxU]*)(?:-([idmsuxU]*))?\)").match(self.p, self.i)
        if not m:
            return False
        self.i = m.end()
        self.flags = self.flags.with_(m.group(1) or "", m.group(2) or "")
        return True

    def _quantified_atom(self) -> None:
        start = len(self.out)
        if self.peek() != "{":  # Java reads a '{' where an atom belongs as a repetition of nothing
            self._atom()
        if self.peek() in ("*", "+", "?", "{"):
            q = self._quantifier()
            atom = "".join(self.out[start:])
            del self.out[start:]
            self.out.append(f"(?:{atom}){q}")

    def _quantifier(self) -> str:
        c = self.next()
        if c == "{":
            m = re.compile(r"(\d+)(?:(,)(\d*))?\}").match(self.p, self.i)
            if not m:
                raise self.error("Illegal repetition", self.i - 1)
            lo, comma, hi = m.groups()
            if hi and int(hi) < int(lo):
                raise self.error("Illegal repetition range", self.i - 1)
            self.i = m.end()
            q = "{" + lo + ("," + hi if comma else "") + "}"
        else:
            q = c
        nxt = self.p[self.i] if self.i < len(self.p) else ""
        if nxt in ("?", "+"):
            self.i += 1
            q += nxt
        return q

    def _atom(self) -> None:
        """Translate one atom (a group, a class, an escape, an anchor or a literal)."""
        c = self.next()
        if c in ("*", "+", "?"):
            raise self.error(f"Dangling meta character '{c}'", self.i - 1)
        if c == "(":
            self._group()
        elif c == "[":
            self.out.append(_emit_class(self._class()))
        elif c == ".":
            if self.flags.s:
                self.out.append("[\\s\\S]")
            elif self.flags.d:
                self.out.append("[^\\n]")
            else:
                self.out.append("[^\\n\\r\\u0085\\u2028\\u2029]")
        elif c == "^":
            self.out.append(self._caret())
        elif c == "$":
            self.out.append(self._dollar())
        elif c == "\\":
            self._escape()
        else:
            self.out.append(re.escape(c))

    def _caret(self) -> str:
        if not self.flags.m:
            return "\\A"
        if self.flags.d:
            return "(?:(?<![\\s\\S])|(?<=\\n))(?=[\\s\\S])"
        return "(?:(?<![\\s\\S])|(?<=[\\n\\u0085\\u2028\\u2029])|(?<=\\r)(?!\\n))(?=[\\s\\S])"

    def _dollar(self) -> str:
        if self.flags.d:
            return "(?=\\n|\\Z)" if self.flags.m else "(?=\\n?\\Z)"
        if self.flags.m:
            return "(?=[\\r\\u0085\\u2028\\u2029]|(?<!\\r)\\n|\\Z)"
        return "(?=(?:\\r\\n|[\\r\\u0085\\u2028\\u2029]|(?<!\\r)\\n)?\\Z)"

    def _group(self) -> None:
        p, i = self.p, self.i
        saved = self.flags
        captured = 0
        if p.startswith("?", i):
            rest = p[i + 1:]
            if rest.startswith(":"):
                self.i += 2
                self.out.append("(?:")
            elif rest.startswith(("=", "!")):
                self.out.append("(?" + rest[0])
                self.i += 2
            elif rest.startswith(("<=", "<!")):
                self.out.append("(?" + rest[:2])
                self.i += 3
            elif rest.startswith(">"):
                self.out.append("(?>")
                self.i += 2
            elif rest.startswith("<"):
                m = re.compile(r"<([a-zA-Z][a-zA-Z0-9]*)>").match(rest)
                if not m:
                    raise self.error("named capturing group is missing trailing '>'", i + 2)
                name = m.group(1)
                if name in self.names:
                    raise self.error(f"Named capturing group <{name}> is already defined", i + 1 + m.end())
                self.names.add(name)
                self.groups += 1
                captured = self.groups
                self.out.append(f"(?P<{name}>")
                self.i += 1 + m.end()
            else:
                m = re.compile(r"\?([idmsuxU]*)(?:-([idmsuxU]*))?:").match(p, i)
                if not m:
                    raise self.error("Unknown inline modifier", i + 1)
                self.flags = self.flags.with_(m.group(1) or "", m.group(2) or "")
                self.i = m.end()
                self.out.append("(?:" + self.flags.case_prefix())
                self._alternation(top=False)
                self.out.append("))")
                self.i += 1
                self.flags = saved
                return
        else:
            self.groups += 1
            captured = self.groups
            self.out.append("(")
        if captured:
            self.open_groups.append(captured)
        self._alternation(top=False)
        if captured:
            self.open_groups.pop()
        self.out.append(")")
        self.i += 1  # the ')'
        self.flags = saved

    # --- escapes
    def _escape(self) -> None:
        c = self.raw()
        if c == "":
            raise self.error("Unexpected internal error", len(self.p))
        if c == "Q":
            end = self.p.find("\\E", self.i)
            lit = self.p[self.i:] if end < 0 else self.p[self.i:end]
            self.i = len(self.p) if end < 0 else end + 2
            self.out.append(re.escape(lit))
            return
        if c.isdigit() and c != "0":
            self._backref(c)
            return
        if c == "k":
            m = re.compile(r"<([a-zA-Z][a-zA-Z0-9]*)>").match(self.p, self.i)
            if not m:
                raise self.error("\\k is not followed by '<' for named capturing group", self.i)
            if m.group(1) not in self.names:
                raise self.error(f"named capturing group <{m.group(1)}> does not exist", m.end() - 1)
            self.i = m.end()
            self.out.append(f"(?P={m.group(1)})")
            return
        simple = {
            "b": "(?u:\\b)", "B": "(?:(?u:\\B)|\\A\\Z)", "A": "\\A", "z": "\\Z",
            "Z": "(?=\\n?\\Z)" if self.flags.d else "(?=(?:\\r\\n|[\\r\\u0085\\u2028\\u2029]|(?<!\\r)\\n)?\\Z)",
            "R": "(?>\\r\\n|[\\n\\x0b\\x0c\\r\\u0085\\u2028\\u2029])",
        }
        if c in simple:
            self.out.append(simple[c])
            return
        if c == "G":
            raise self.error("\\G (end of the previous match) is not supported", self.i - 1)
        if c == "X":
            raise self.error("\\X (grapheme cluster) is not supported", self.i - 1)
        self.i -= 2
        node = self._class_escape()
        if isinstance(node, int):
            self.out.append(re.escape(chr(node)))
        else:
            self.out.append(_emit_class(node))

    def _backref(self, first: str) -> None:
        num = int(first)
        while self.i < len(self.p) and self.p[self.i].isdigit():
            cand = num * 10 + int(self.p[self.i])
            if cand > self.groups:
                break
            num = cand
            self.i += 1
        if num > self.groups or num in self.open_groups:
            self.out.append("(?!)")  # Java compiles it; the group cannot have captured yet
        else:
            self.out.append(f"(?:\\{num})")

    def _class_escape(self) -> int | object:
        """At a backslash: a code point, or a class tree for \\d \\w \\s \\h \\v \\p{..} ..."""
        start = self.i
        self.i += 1
        c = self.raw()
        if c == "":
            raise self.error("Unexpected internal error", len(self.p))
        if c in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[c]
        if c == "0":
            m = re.compile(r"[0-7]{1,3}").match(self.p, self.i)
            if not m or (len(m.group()) == 3 and m.group()[0] > "3"):
                if not m:
                    raise self.error("Illegal octal escape sequence", self.i)
                m = re.compile(r"[0-7]{1,2}").match(self.p, self.i)
                assert m is not None
            self.i = m.end()
            return int(m.group(), 8)
        if c == "x":
            if self.p.startswith("{", self.i):
                m = re.compile(r"\{([0-9a-fA-F]+)\}").match(self.p, self.i)
                if not m or int(m.group(1), 16) > sys.maxunicode:
                    raise self.error("Illegal hexadecimal escape sequence", self.i)
                self.i = m.end()
                return int(m.group(1), 16)
            m = re.compile(r"[0-9a-fA-F]{2}").match(self.p, self.i)
            if not m:
                raise self.error("Illegal hexadecimal escape sequence", self.i)
            self.i = m.end()
            return int(m.group(), 16)
        if c == "u":
            m = re.compile(r"[0-9a-fA-F]{4}").match(self.p, self.i)
            if not m:
                raise self.error("Illegal Unicode escape sequence", self.i)
            self.i = m.end()
            cp = int(m.group(), 16)
            hi = re.compile(r"\\u([dD][c-fC-F][0-9a-fA-F]{2})").match(self.p, self.i)
            if 0xD800 <= cp <= 0xDBFF and hi:  # a surrogate pair written as two \\u escapes
                self.i = hi.end()
                return 0x10000 + ((cp - 0xD800) << 10) + (int(hi.group(1), 16) - 0xDC00)
            return cp
        if c == "c":
            ch = self.raw()
            if ch == "":
                raise self.error("Illegal control escape sequence", self.i)
            return ord(ch) ^ 64
        if c == "N":
            m = re.compile(r"\{([^}]*)\}").match(self.p, self.i)
            if not m:
                raise self.error("Unknown character name", self.i)
            try:
                cp = ord(unicodedata.lookup(m.group(1)))
            except KeyError:
                raise self.error(f"Unknown character name [{m.group(1)}]", self.i) from None
            self.i = m.end()
            return cp
        if c in "dDwWsShHvV":
            return self._predefined(c)
        if c in "pP":
            return self._family(c == "P")
        if (c.isascii() and c.isalpha()) or (c.isdigit() and c != "0"):
            raise self.error("Illegal/unsupported escape sequence", start + 1)
        return ord(c)

    def _predefined(self, c: str) -> object:
        uni = self.flags.U
        neg = c.isupper()
        kind = c.lower()
        if uni and kind in "dws":
            py = {"d": "\\d", "w": "\\w", "s": "\\s"}[kind]
            return _Set([py], neg)
        spec = {
            "d": "0-9", "w": "a-zA-Z_0-9", "s": " \t\n\x0b\x0c\r",
            "h": " \t\xa0\u1680\u180e\u2000-\u200a\u202f\u205f\u3000",
            "v": "\n\x0b\x0c\r\x85\u2028\u2029",
        }[kind]
        return _Set([_ranges_to_class(_text_ranges(spec))], neg)

    def _family(self, complement: bool) -> object:
        if self.p.startswith("{", self.i):
            end = self.p.find("}", self.i)
            if end < 0:
                raise self.error("Unclosed character family", len(self.p))
            name = self.p[self.i + 1:end]
            if not name:
                raise self.error("Empty character family", end)
            self.i = end + 1
        else:
            name = self.raw()
            if not name:
                raise self.error("Illegal/unsupported escape sequence", self.i)
        r = _property(name, self.flags.U, self.flags.i)
        if r is None:
            raise self.error(f"Unknown character property name {{{name}}}", self.i - 1)
        ranges, comp = r
        node = _Set([_ranges_to_class(ranges)], comp)
        return _negate(node) if complement else node

    # --- character classes (java.util.regex.Pattern.clazz, JDK 9+ semantics)
    def _class(self) -> object:
        """After '[': the class tree, up to and including its ']'."""
        prev: object | None = None
        bits = _Set()
        has_bits = False
        neg = False
        if self.p.startswith("^", self.i):
            self.i += 1
            neg = True
        while True:
            ch = self.peek()
            if ch == "[":
                self.i += 1
                prev = _union(prev, self._class())
                continue
            if ch == "&" and self.p.startswith("&&", self.i):
                self.i += 2
                right: object | None = None
                while True:
                    ch = self.peek()
                    if ch in ("]", "&", ""):
                        break
                    if ch == "[":
                        self.i += 1
                        right = _union(right, self._class())
                    else:
                        right = _union(right, self._class_run())
                if has_bits:
                    prev = _union(prev, bits)
                    bits, has_bits = _Set(), False
                if prev is None:
                    if right is None:
                        raise self.error("Bad class syntax", self.i)
                    prev = right
                elif right is not None:
                    prev = _And(prev, right)
                continue
            if ch == "":
                raise self.error("Unclosed character class", len(self.p) - 1)
            if ch == "]" and (prev is not None or has_bits):
                self.i += 1
                if has_bits:
                    prev = _union(prev, bits)
                assert prev is not None
                return _negate(prev) if neg else prev
            node = self._class_item(bits)
            if node is None:
                has_bits = True
            else:
                prev = _union(prev, node)

    def _class_run(self) -> object:
        """The bracket-less right operand of '&&' (as in [a-z&&def]): items up to ']' or '&'."""
        bits = _Set()
        acc: object | None = None
        while self.peek() not in ("]", "&", "", "["):
            node = self._class_item(bits)
            if node is not None:
                acc = _union(acc, node)
        if bits.parts:
            acc = _union(acc, bits)
        if acc is None:
            raise self.error("Bad class syntax", self.i)
        return acc

    def _class_item(self, bits: _Set) -> object | None:
        """One char, range or escape class; chars and ranges go into `bits` (None returned)."""
        ch = self.peek()
        if ch == "\\" and self.p.startswith("\\Q", self.i):
            end = self.p.find("\\E", self.i)
            lit = self.p[self.i + 2:] if end < 0 else self.p[self.i + 2:end]
            self.i = len(self.p) if end < 0 else end + 2
            bits.parts.extend(_esc_class_char(ord(c)) for c in lit)
            return None
        if ch == "\\":
            e = self._class_escape()
            if not isinstance(e, int):
                return e
            cp = e
        else:
            self.i += 1
            cp = ord(ch)
        if self.peek() == "-":
            after = self.p[self.i + 1] if self.i + 1 < len(self.p) else ""
            if after == "[":
                bits.parts.append(_esc_class_char(cp))
                return None
            if after != "]":
                self.i += 1
                if self.peek() == "\\":
                    e2 = self._class_escape()
                    if not isinstance(e2, int):
                        raise self.error("Illegal character range", self.i - 1)
                    hi = e2
                else:
                    nxt = self.next()
                    if nxt == "":
                        raise self.error("Unclosed character class", len(self.p) - 1)
                    hi = ord(nxt)
                if hi < cp:
                    raise self.error("Illegal character range", self.i - 1)
                bits.parts.append(_esc_class_char(cp) + "-" + _esc_class_char(hi))
                return None
        bits.parts.append(_esc_class_char(cp))
        return None


@lru_cache(maxsize=512)
def compile_java(pattern: str, flags: str = "") -> re.Pattern[str]:
    """The Python equivalent of Pattern.compile(pattern); JavaRegexError when Java would refuse it."""
    py = _Translator(pattern, _Flags().with_(flags, "")).translate()
    try:
        return re.compile(py)
    except re.error as e:
        raise JavaRegexError(f"{e.msg} in regular expression {pattern}") from e


# --- Matcher loops -------------------------------------------------------------------------------


def find_all(p: re.Pattern[str], s: str) -> Iterator[re.Match[str]]:
    """Matcher.find() repeated: after an empty match the search resumes one character later."""
    pos, n = 0, len(s)
    while pos <= n:
        m = p.search(s, pos)
        if m is None:
            return
        yield m
        pos = m.end() + 1 if m.end() == m.start() else m.end()


def group_count(p: re.Pattern[str]) -> int:
    return p.groups


def _replacement(template: str, m: re.Match[str], groups: int) -> str:
    """Matcher.appendReplacement's expansion of $n, ${name} and backslash escapes."""
    out, i, n = [], 0, len(template)
    while i < n:
        c = template[i]
        if c == "\\":
            i += 1
            if i >= n:
                raise KsqlError("character to be escaped is missing")
            out.append(template[i])
            i += 1
        elif c == "$":
            i += 1
            if i >= n:
                raise KsqlError("Illegal group reference: group index is missing")
            if template[i] == "{":
                end = template.find("}", i)
                name = template[i + 1:end] if end > 0 else ""
                if end < 0 or not re.fullmatch(r"[a-zA-Z][a-zA-Z0-9]*", name):
                    raise KsqlError("named capturing group is missing trailing '}'" if end < 0
                                    else "Illegal group reference")
                if name not in m.re.groupindex:
                    raise KsqlError(f"No group with name {{{name}}}")
                out.append(m.group(name) or "")
                i = end + 1
            elif template[i].isdigit():
                num = int(template[i])
                if num > groups:
                    raise KsqlError(f"No group {num}")
                i += 1
                while i < n and template[i].isdigit():
                    cand = num * 10 + int(template[i])
                    if cand > groups:
                        break
                    num = cand
                    i += 1
                out.append(m.group(num) or "")
            else:
                raise KsqlError("Illegal group reference")
        else:
            out.append(c)
            i += 1
    return "".join(out)


def replace_all(p: re.Pattern[str], s: str, replacement: str) -> str:
    """String.replaceAll(regex, replacement)."""
    out, last = [], 0
    for m in find_all(p, s):
        out.append(s[last:m.start()])
        out.append(_replacement(replacement, m, p.groups))
        last = m.end()
    out.append(s[last:])
    return "".join(out)


def split(p: re.Pattern[str], s: str, limit: int = 0) -> list[str]:
    """Pattern.split(input, limit) (JDK 8+: no leading empty string for a zero-width first match)."""
    out: list[str] = []
    index = 0
    limited = limit > 0
    for m in find_all(p, s):
        if not limited or len(out) < limit - 1:
            if index == 0 and m.start() == 0 and m.start() == m.end():
                continue
            out.append(s[index:m.start()])
            index = m.end()
        elif len(out) == limit - 1:
            out.append(s[index:])
            index = m.end()
            break
    if index == 0:
        return [s]
    if not limited or len(out) < limit:
        out.append(s[index:])
    if limit == 0:
        while out and out[-1] == "":
            out.pop()
    return out


__all__ = ["JavaRegexError", "compile_java", "find_all", "replace_all", "split"]
