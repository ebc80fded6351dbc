"""Signing in to the console: password hashes, session ids, form tokens and the lock-out (no I/O).

* Passwords are hashed with argon2id (``argon2-cffi``, the Password Hashing Competition's winner, with
  its recommended parameters); a hash made with older parameters is re-hashed at the next sign-in.
* A session is a random id in an HttpOnly, SameSite=Strict cookie; the store keeps only its SHA-256, so
  reading the store gives no usable session. Each session has its own form token (CSRF): every form
  that changes something carries it, and a request without the session's token is refused.
* After :attr:`LockOut.failures` failed sign-ins in a row an account is locked for
  :attr:`LockOut.seconds`; the lock grows with each further failure, up to a day. A failed sign-in
  costs the same whether the user exists or not (a dummy hash is verified), so the answer's time does
  not tell which names exist.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

__all__ = ["hash_password", "verify_password", "needs_rehash", "new_session_id", "session_key", "new_csrf_token",
           "same_token", "LockOut", "checked_password", "MIN_PASSWORD"]

_HASHER = PasswordHasher()
#: Verified when the user does not exist, so that a wrong name costs the time a wrong password does.
_DUMMY = _HASHER.hash("not a password of anyone")
MIN_PASSWORD = 12


def checked_password(password: str) -> str:
    """A new password: at least :data:`MIN_PASSWORD` characters, at most 256."""
    if not MIN_PASSWORD <= len(password) <= 256:
        raise ValueError(f"a password has {MIN_PASSWORD} to 256 characters")
    return password


def hash_password(password: str) -> str:
    """The argon2id hash to keep (CPU-heavy: tens of milliseconds; not on the event loop)."""
    return _HASHER.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored`` (None: no such user; the same work is done anyway)."""
    try:
        return _HASHER.verify(stored or _DUMMY, password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """Whether ``stored`` was made with other parameters than today's (re-hash it after a sign-in)."""
    try:
        return _HASHER.check_needs_rehash(stored)
    except InvalidHashError:
        return True


def new_session_id() -> str:
    """A session id for the cookie: 256 random bits."""
    return secrets.token_urlsafe(32)


def session_key(session_id: str) -> str:
    """What the store keeps of a session id (its SHA-256): a stolen copy of the store opens nothing."""
    return hashlib.sha256(session_id.encode("utf-8", "surrogateescape")).hexdigest()


def new_csrf_token() -> str:
    """A session's form token."""
    return secrets.token_urlsafe(24)


def same_token(given: str, expected: str) -> bool:
    """Constant-time comparison of two tokens."""
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode("utf-8", "surrogateescape"))


@dataclass(frozen=True)
class LockOut:
    """After ``failures`` failed sign-ins in a row, the account is locked for ``seconds``, doubled at each
    further failure, at most ``longest``."""

    failures: int = 5
    seconds: float = 900.0
    longest: float = 86_400.0

    def locked_for(self, failures: int) -> float:
        """How long an account with ``failures`` failures in a row is locked (0: not locked)."""
        if failures < self.failures:
            return 0.0
        return float(min(self.longest, self.seconds * 2 ** (failures - self.failures)))
