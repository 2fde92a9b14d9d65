"""Basic auth for /metrics with bcrypt work bounded, whoever knocks.

bcrypt costs tens to hundreds of milliseconds on purpose. Paid on every
attempt, 64 guessing clients would take every core from the checks and the
real scrapes, so:

- a pair that matched is remembered (as a keyed digest, never in clear) and
  the real scraper pays bcrypt once, not per scrape;
- at most a few verifications run at once; an attempt that cannot get a turn
  soon is told to come back (:attr:`Verdict.BUSY`, a 503), not queued;
- an unknown user is verified against a dummy hash of the same cost, so the
  time of a 401 does not tell which user names exist;
- a password over bcrypt's 72 bytes is refused as wrong (as the Prometheus
  exporter-toolkit does), never passed on to bcrypt, which raises on it.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
import threading
from collections.abc import Mapping

import bcrypt

# bcrypt reads 72 bytes of a password at most; the toolkit refuses longer ones.
MAX_PASSWORD_BYTES = 72
_DEFAULT_COST = 12


class Verdict(enum.Enum):
    ALLOWED = "allowed"
    DENIED = "denied"
    BUSY = "busy"  # every verification slot stayed taken: try again shortly


class BasicAuth:
    """Checks user and password against bcrypt hashes, within a bound on bcrypt work."""

    def __init__(
        self, users: Mapping[str, bytes], *, concurrent: int = 1, wait_seconds: float = 0.5
    ) -> None:
        self._users = dict(users)
        self._key = hashlib.sha256(b"".join(sorted(users.values()))).digest()
        self._good: set[bytes] = set()
        self._lock = threading.Lock()
        self._turns = threading.BoundedSemaphore(concurrent)
        self._wait_seconds = wait_seconds
        cost = max((_cost(hashed) for hashed in self._users.values()), default=_DEFAULT_COST)
        self._dummy = bcrypt.hashpw(secrets.token_bytes(16), bcrypt.gensalt(rounds=cost))
        self.verifications = 0  # bcrypt runs, for known and unknown users alike

    def check(self, user: str, password: str) -> Verdict:
        secret = password.encode()
        if len(secret) > MAX_PASSWORD_BYTES:
            return Verdict.DENIED
        hashed = self._users.get(user)
        digest = hmac.new(self._key, user.encode() + b"\0" + secret, hashlib.sha256).digest()
        with self._lock:
            if hashed is not None and digest in self._good:
                return Verdict.ALLOWED
        if not self._turns.acquire(timeout=self._wait_seconds):
            return Verdict.BUSY
        try:
            with self._lock:
                self.verifications += 1
            # An unknown user costs the same bcrypt run as a known one.
            matched = _matches(secret, hashed if hashed is not None else self._dummy)
        finally:
            self._turns.release()
        if not matched or hashed is None:
            return Verdict.DENIED
        with self._lock:
            self._good.add(digest)
        return Verdict.ALLOWED


def _matches(secret: bytes, hashed: bytes) -> bool:
    try:
        return bcrypt.checkpw(secret, hashed)
    except ValueError:  # a hash bcrypt cannot read: no password matches it
        return False


def _cost(hashed: bytes) -> int:
    """The cost of a ``$2b$12$...`` hash (12), within the range bcrypt accepts."""
    try:
        return min(31, max(4, int(hashed.split(b"$")[2])))
    except (IndexError, ValueError):
        return _DEFAULT_COST
