"""Hostile input for the fuzz tests (issue 21) and the run length: what the outside fuzzing sent, as strategies.

Run length: the default run is derandomized (a fixed seed, the same examples every time) and short enough
for ``make test``; ``IDP_TEST_FUZZ_PROFILE=long`` runs random examples, fifty times as many per test, and
``IDP_TEST_FUZZ_EXAMPLES=N`` sets the number of examples per test outright.
"""

from __future__ import annotations

import base64
import json
import os
import string
import sys
import unicodedata
from typing import Any
from urllib.parse import quote_from_bytes

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

LONG = os.environ.get("IDP_TEST_FUZZ_PROFILE", "") == "long"


def fuzz_settings(examples: int) -> settings:
    """``examples`` per test in the default (seeded) run; more, and random, in the long one."""
    count = int(os.environ.get("IDP_TEST_FUZZ_EXAMPLES") or 0) or (examples * 50 if LONG else examples)
    return settings(max_examples=count, derandomize=not LONG, deadline=None, database=None, print_blob=LONG,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large, HealthCheck.filter_too_much])


# Every character Unicode calls a number (Nd decimal digits, No "other" like ² ½ ①, Nl letters like Ⅻ):
# str.isdigit() says yes to some of them, int() accepts others, and only 0-9 are digits to the protocol.
NUMBER_CHARS = "".join(ch for ch in map(chr, range(sys.maxunicode + 1))
                       if unicodedata.category(ch) in ("Nd", "No", "Nl"))
SURROGATES = "\ud800\udbff\udc00\udfff"

numbers = st.one_of(
    st.text(alphabet=NUMBER_CHARS, min_size=1, max_size=12),
    st.builds(lambda a, b, c: a + b + c, st.text(string.digits, max_size=5), st.sampled_from(NUMBER_CHARS),
              st.text(string.digits, max_size=5)),
    st.sampled_from(["0", "-1", "+1", " 1", "1 ", "1.5", "1e3", "0x10", "99999999999999999999", "٣", "²", "１"]),
)
# Any code point, lone surrogates included (a JSON "\ud800" escape decodes to one; Hypothesis leaves them out).
any_text = st.text(alphabet=st.one_of(st.characters(), st.sampled_from([chr(c) for c in range(0xD800, 0xE000)])),
                   max_size=40)
text = st.one_of(
    st.text(max_size=40),
    any_text,
    numbers,
    st.sampled_from(["", " ", "\x00", "\u202e", "\ufeff", "%00", "{}", "[]", "a" * 3000, "javascript:alert(1)",
                     "openid", "code", "S256", "none", "authorization_code", "http://127.0.0.1:1/cb", "\r\nX: y",
                     "../../etc/passwd", "<script>alert(1)</script>", "' OR 1=1 --", *SURROGATES]),
)


def wire(value: str) -> bytes:
    """The bytes a client could put on the wire for ``value``: UTF-8, lone surrogates as their CESU-8
    bytes (ill-formed UTF-8, which the server must take apart without failing)."""
    return value.encode("utf-8", "surrogatepass")


names = st.one_of(st.sampled_from(["client_id", "redirect_uri", "scope", "state", "max_age", "prompt",
                                   "response_type", "grant_type", "code", "token", "id_token_hint", "csrf_token",
                                   "nik", "password", "username", "next", "lang", "ui_locales"]),
                  text.filter(bool))


@st.composite
def raw_query(draw: st.DrawFn, known: dict[str, str] | None = None) -> str:
    """A query string built by hand: repeated and non-ASCII names, ill-formed UTF-8, stray ``%`` and ``=``."""
    pairs = [(k, v) for k, v in (known or {}).items()]
    pairs += draw(st.lists(st.tuples(names, text), max_size=6))
    if pairs and draw(st.booleans()):
        pairs.append(draw(st.sampled_from(pairs)))  # the same name twice
    parts = [quote_from_bytes(wire(k), safe="") + "=" + quote_from_bytes(wire(v), safe="") for k, v in pairs]
    parts += draw(st.lists(st.sampled_from(["%", "%zz", "=", "&", "==", "a=%ED%A0%80", "%FF=%FE", "%D1%81=1"]),
                           max_size=2))
    shuffled = draw(st.permutations(parts))
    return "&".join(shuffled)


def latin1(value: str) -> str:
    """A header value as WSGI carries it: latin-1 characters, no line breaks (those would be new headers)."""
    value = value.replace("\r", "").replace("\n", "")
    return wire(value).decode("latin-1")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


hosts = st.one_of(
    st.sampled_from(["localhost", "127.0.0.1:5000", "a" * 64, "a" * 64 + ".example.org", "x." + "b" * 200,
                     "[::1]", "[::1", "::1", "host:notaport", "host:99999", "", ".", "..", "a..b", "user@host",
                     "ex\u00e4mple.org", "xn--", "xn--zz.example", "\u0000", "h\u00ff", "-a-.example"]),
    st.text(alphabet=st.characters(codec="latin-1"), max_size=70),
)
cookies = st.one_of(
    st.builds(lambda v: f"idp_ui={v}", text),
    st.builds(lambda v: f"idp_lang={v}", text),
    st.builds(lambda v: f"session={v}; idp_ui=.{v}", text),
    st.sampled_from(["idp_ui", "=", ";;;", "idp_ui=\"unterminated", "idp_ui=" + "x" * 5000, "idp_ui=e30.x.y"]),
)
authorizations = st.one_of(
    st.builds(lambda v: "Bearer " + v, text),
    st.builds(lambda v: "Basic " + base64.b64encode(wire(v)).decode(), text),
    st.builds(lambda a, b: "Basic " + base64.b64encode(wire(a) + b":" + wire(b)).decode(), text, text),
    st.sampled_from(["Basic", "Basic !!!", "Basic " + "A" * 9000, "Bearer", "Digest x", "Basic Og==", "Basic OjpA"]),
    text,
)
content_types = st.sampled_from([
    "application/x-www-form-urlencoded", "application/x-www-form-urlencoded; charset=latin-1",
    "application/x-www-form-urlencoded; charset=\u00ff", "application/json", "application/json; charset=utf-16",
    "multipart/form-data", "multipart/form-data; boundary=", "multipart/form-data; boundary=\"x",
    "text/plain", "", ";;", "application/jwt", "application/x-www-form-urlencoded; charset=nope",
])
headers = st.fixed_dictionaries({}, optional={
    "Host": hosts, "Cookie": cookies, "Authorization": authorizations, "Content-Type": content_types,
    "Accept": st.sampled_from(["application/json", "text/html", "*/*;q=x", "", "application/json;q=2"]),
    "Accept-Language": st.sampled_from(["en", "id;q=0.9", "\u00ff", "*;q=nope", "zz-ZZ, en;q=0.1"]),
    "X-Request-ID": text,
    "Origin": st.sampled_from(["null", "https://evil.example", "\u00ff"]),
})


# --------------------------------------------------------------------------- JSON and JWTs
def nested(depth: int, inner: bytes = b"1") -> bytes:
    return b"[" * depth + inner + b"]" * depth


json_bytes = st.one_of(
    st.builds(nested, st.integers(17, 3000)),
    st.builds(lambda d: b'{"a":' * d + b"1" + b"}" * d, st.integers(17, 1500)),
    st.builds(lambda n: b'{"sub":"' + b"x" * n + b'"}', st.integers(8000, 20000)),
    st.builds(lambda v: json.dumps({"sub": v, "iss": v, "jti": v, "aud": v, "exp": 9999999999}).encode(), text),
    st.builds(lambda v: json.dumps(v).encode(), st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(), text),
        lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(text, inner, max_size=3)),
        max_leaves=10)),
    st.binary(max_size=60),
)


@st.composite
def hostile_jwts(draw: st.DrawFn) -> str:
    """Compact JWS/JWE shapes with hostile JSON in the header, the payload or both, and any signature."""
    header = draw(st.one_of(st.just(b'{"alg":"RS256"}'), st.just(b'{"alg":"none"}'), json_bytes))
    payload = draw(json_bytes)
    signature = draw(st.sampled_from(["", "c2ln", "!!", "A" * 400]))
    shape = draw(st.sampled_from(["jws", "jwe", "two", "many"]))
    if shape == "jws":
        return f"{_b64(header)}.{_b64(payload)}.{signature}"
    if shape == "jwe":
        return f"{_b64(header)}.a.b.{_b64(payload)}.{signature}"
    if shape == "two":
        return f"{_b64(header)}.{_b64(payload)}"
    return ".".join([_b64(header), _b64(payload)] * 4)


def as_form(data: dict[str, Any]) -> bytes:
    """``data`` as an urlencoded body, any str allowed (lone surrogates as ill-formed UTF-8)."""
    return "&".join(quote_from_bytes(wire(k), safe="") + "=" + quote_from_bytes(wire(str(v)), safe="")
                    for k, v in data.items()).encode()
