"""The population registry (Dukcapil-style data verification): the :class:`RegistryVerifier` seam and its HTTP adapter.

An agency sends the registry a NIK with the data the person typed (full name, birth date, birth place,
optionally the mother's maiden name) and gets back, per field, whether it matches; no registry data
flows back.  :class:`HttpRegistryVerifier` speaks this over HTTPS through the outbound guard of
:mod:`idp.net` (no redirects, a total timeout, a bounded read) with HTTP Basic credentials
(``IDP_REGISTRY_USER``/``IDP_REGISTRY_PASSWORD``).  The wire format, which ``idp registry-sim`` serves:

    POST {IDP_REGISTRY_URL}  application/json
      {"nik": "...", "full_name": "...", "birthdate": "YYYY-MM-DD", "birthplace": "...", "mother_name": "..."}
    200 application/json
      {"request_id": "...", "found": true, "match": {"full_name": true, "birthdate": true, "birthplace": false}}

Everything else (another status, content type, an oversized or malformed body, a timeout) is a
:class:`RegistryUnavailable`: the caller (:mod:`idp.people.nik_proof`) keeps the request queued and
retries it later.  A circuit breaker shared by every process through the store stops sending while the
registry keeps failing (``IDP_REGISTRY_BREAKER_FAILURES`` in a row open it for
``IDP_REGISTRY_BREAKER_SECONDS``), so a slow registry is not hammered by the queue.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any, Protocol

import urllib3

from idp import net
from idp.extensions import setting, state

# The fields the registry can match, in the order the pages list them.
FIELDS = ("full_name", "birthdate", "birthplace", "mother_name")
# The fields that must match for a registry-level proof (the mother's maiden name only when given).
REQUIRED = ("full_name", "birthdate", "birthplace")
MAX_ANSWER = 16 * 1024  # bytes: an answer is a few flags; anything bigger is refused unread
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
BREAKER_KIND = "registry-breaker"


class RegistryUnavailable(Exception):
    """The registry did not give a usable answer (down, slow, refused, or an answer we cannot trust)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Query:
    """What the person typed, sent to the registry with the NIK."""

    nik: str
    full_name: str
    birthdate: dt.date
    birthplace: str
    mother_name: str | None = None

    def to_json(self) -> dict[str, Any]:
        body = {"nik": self.nik, "full_name": self.full_name, "birthdate": self.birthdate.isoformat(),
                "birthplace": self.birthplace}
        if self.mother_name:
            body["mother_name"] = self.mother_name
        return body


@dataclass(frozen=True)
class Answer:
    """The registry's verdict: its request id, whether it knows the NIK, and the fields that matched."""

    request_id: str
    found: bool
    matched: tuple[str, ...]

    def proves(self, query: Query) -> bool:
        """True when every required field (and the mother's maiden name, when it was given) matched."""
        wanted = REQUIRED + (("mother_name",) if query.mother_name else ())
        return self.found and all(f in self.matched for f in wanted)


class RegistryVerifier(Protocol):
    """The seam: anything that can check a :class:`Query` against the population registry."""

    def verify(self, query: Query) -> Answer:
        """The registry's answer; raises :class:`RegistryUnavailable` when there is none to trust."""


def parse_answer(status: int, content_type: str, body: bytes, query: Query) -> Answer:
    """Check an HTTP answer strictly; raises :class:`RegistryUnavailable` on anything unexpected."""
    if status != 200:
        raise RegistryUnavailable(f"HTTP {status}")
    if content_type.split(";", 1)[0].strip().lower() != "application/json":
        raise RegistryUnavailable("not JSON")
    if len(body) > MAX_ANSWER:
        raise RegistryUnavailable("answer too large")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise RegistryUnavailable("malformed JSON") from None
    if not isinstance(data, dict):
        raise RegistryUnavailable("malformed answer")
    request_id, found, match = data.get("request_id"), data.get("found"), data.get("match", {})
    if not isinstance(request_id, str) or not _REQUEST_ID.match(request_id):
        raise RegistryUnavailable("malformed request_id")
    if not isinstance(found, bool) or not isinstance(match, dict):
        raise RegistryUnavailable("malformed answer")
    if any(not isinstance(v, bool | None) for v in match.values()):
        raise RegistryUnavailable("malformed match flags")
    sent = set(query.to_json()) - {"nik"}
    # Only flags for fields we sent count: an answer cannot vouch for something nobody asked.
    matched = tuple(f for f in FIELDS if f in sent and match.get(f) is True)
    return Answer(request_id=request_id, found=found, matched=matched if found else ())


class HttpRegistryVerifier:
    """The HTTP adapter for a Dukcapil-style data-verification service (module docstring)."""

    def __init__(self, url: str, user: str, password: str, timeout: float) -> None:
        self.url, self.timeout = url, timeout
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self._headers = {"Content-Type": "application/json", "Accept": "application/json",
                         "Authorization": f"Basic {token}", "Cache-Control": "no-store"}

    def verify(self, query: Query) -> Answer:
        try:
            resp = net.request("POST", self.url, timeout=self.timeout, max_bytes=MAX_ANSWER,
                               body=json.dumps(query.to_json()), headers=self._headers)
        except net.Refused as exc:
            raise RegistryUnavailable(f"refused: {exc.reason}") from None
        except urllib3.exceptions.NewConnectionError:
            # Checked first: urllib3 makes it a subclass of its timeout errors.
            raise RegistryUnavailable("connection error") from None
        except urllib3.exceptions.TimeoutError:
            raise RegistryUnavailable("timeout") from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise RegistryUnavailable(f"connection error ({type(exc).__name__})") from None
        return parse_answer(resp.status, resp.content_type, resp.body, query)


def configured() -> bool:
    """True when ``IDP_REGISTRY_URL`` is set: registry verification is offered."""
    return bool(setting("REGISTRY_URL"))


def verifier() -> RegistryVerifier:
    """The configured verifier (the HTTP adapter; tests point it at the simulator)."""
    return HttpRegistryVerifier(setting("REGISTRY_URL"), setting("REGISTRY_USER"), setting("REGISTRY_PASSWORD"),
                                float(setting("REGISTRY_TIMEOUT")))


# --- circuit breaker (shared by every process through the store) ------------------------------------------

def breaker_open() -> bool:
    """True while the breaker is open: no request goes to the registry."""
    return state().store.get(BREAKER_KIND, "open") is not None


def record_success() -> None:
    state().store.delete(BREAKER_KIND, "failures")
    state().store.delete(BREAKER_KIND, "open")


def record_failure() -> bool:
    """Count one failed request; True when this failure opened the breaker."""
    window = int(setting("REGISTRY_BREAKER_SECONDS"))
    failures = state().store.incr(BREAKER_KIND, "failures", window * 10)
    if failures >= int(setting("REGISTRY_BREAKER_FAILURES")):
        state().store.put(BREAKER_KIND, "open", 1, window)
        state().store.delete(BREAKER_KIND, "failures")
        return True
    return False
