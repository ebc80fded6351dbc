"""Who is asking: signing in to the console, sessions, roles, and the form token of each session.

Three ways in, tried in this order for every request but the public ones (``/healthz``, ``/static``,
``/login``):

1. **the bearer token** (``Authorization: Bearer …``, ``IVR_ADMIN_TOKEN``): machines — Prometheus,
   scripts, the tests' tools. It may do everything a publisher may; it is never a cookie, so forms
   need no token with it;
2. **a session cookie** (``ivr_session``: HttpOnly, SameSite=Strict, ``Secure`` behind HTTPS), made by
   ``POST /login`` with a user's password (:mod:`ivr.versions.access`); the store keeps the session, so
   every node behind a load balancer knows it. Each session has a form token: every ``POST`` made with
   the cookie must carry it (the ``csrf`` field the pages put in each form, or ``X-CSRF-Token``);
3. **nobody at all** only while no token is set and no user exists: the console then listens on
   loopback only (``AdminServer`` refuses anything else), as before sign-in existed.

A single sign-on (OpenID Connect) plugs in as another :class:`IdentityProvider`: its login page
redirects to the agency's provider, its callback checks the provider's answer and returns the
:class:`~ivr.versions.model.User` (the role from a claim or from ``ivr users``), and :meth:`SignIn.open`
makes the same session. Nothing else changes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ..versions.access import LockOut, hash_password, needs_rehash, new_csrf_token, new_session_id, same_token, session_key, verify_password
from ..versions.model import AuditAction, Role, Session, User, checked_user_name

__all__ = ["Accounts", "Principal", "SignIn", "IdentityProvider", "PasswordIdentity", "COOKIE", "CSRF_FIELD"]

COOKIE = "ivr_session"
CSRF_FIELD = "csrf"
#: How long users are looked up again for "is anyone set up?" (the open local mode).
_USERS_CACHE = 5.0
#: How long a request waits for the store to prove a session (a database that stops answering must not
#: make every console page wait its pool's timeout).
_STORE_WAIT = 1.0


class Accounts(Protocol):
    """What sign-in needs of the store (:class:`ivr.store.Store` has it)."""

    async def user(self, name: str) -> User | None:
        """The user ``name``; None when there is none."""

    async def users(self) -> list[User]:
        """Every user."""

    async def sign_in_failed(self, name: str, lock_for: Callable[[int], float]) -> int:
        """Count a failure and lock the account ``lock_for(failures)`` seconds; the failures in a row."""

    async def signed_in(self, name: str, password_hash: str | None = None) -> None:
        """Forget a user's failures (keeping a re-made hash when given)."""

    async def add_session(self, key: str, user_name: str, csrf: str, expires_at: float) -> None:
        """Keep a session under the hash of its id."""

    async def session(self, key: str) -> Session | None:
        """The session under ``key`` while it lasts."""

    async def end_session(self, key: str) -> None:
        """End a session."""

    async def add_audit(self, actor: str, action: str, target: str = "", origin: str = "",
                        detail: dict[str, Any] | None = None) -> int:
        """Append to the audit trail."""


@dataclass(frozen=True)
class Principal:
    """Who a request comes from: a user's ``name``, or ``token`` / ``local``; their role; the session's
    form token (None without a session: no cookie, no form token needed)."""

    name: str
    role: Role
    via: str
    csrf: str | None = None
    session_id: str | None = None

    def may(self, needed: Role) -> bool:
        """Whether this principal may do what ``needed`` may."""
        return self.role.allows(needed)


class IdentityProvider(Protocol):
    """Proves who someone is; passwords here, an agency's single sign-on elsewhere."""

    async def identify(self, name: str, secret: str, origin: str) -> User | None:
        """The user, when ``secret`` proves it is them; None otherwise (and the failure is counted)."""


class PasswordIdentity:
    """Users and argon2id hashes in the store, with the lock-out after repeated failures."""

    def __init__(self, accounts: Accounts, lockout: LockOut = LockOut(), clock: Callable[[], float] = time.time) -> None:
        self.accounts = accounts
        self.lockout = lockout
        self.clock = clock

    async def identify(self, name: str, secret: str, origin: str) -> User | None:
        """The user when the password is theirs and the account is not locked."""
        user = await self.accounts.user(name)
        locked = user is not None and user.locked_until is not None and user.locked_until > self.clock()
        # The hash is checked even for a name that is no user, or a locked one: the answer takes as long.
        good = await asyncio.to_thread(verify_password, user.password_hash if user else None, secret)
        if user is None or locked or not good:
            failures = await self.accounts.sign_in_failed(name, self.lockout.locked_for)
            # The name as typed only when it could be a user's: the trail keeps no one's junk or control codes.
            shown = name if _could_be_user(name) else "(not a user name)"
            await self.accounts.add_audit(shown, AuditAction.SIGN_IN_FAILED, f"user {shown}", origin,
                                          {"locked": locked, "failures": failures})
            return None
        fresh = await asyncio.to_thread(hash_password, secret) if needs_rehash(user.password_hash) else None
        await self.accounts.signed_in(user.name, fresh)
        return user


def _could_be_user(name: str) -> bool:
    try:
        checked_user_name(name)
    except ValueError:
        return False
    return True


class SignIn:
    """Sessions over the store, the token, and the open local mode (see the module)."""

    def __init__(self, accounts: Accounts | None, token: str, *, identity: IdentityProvider | None = None,
                 session_seconds: float = 8 * 3600.0, clock: Callable[[], float] = time.time) -> None:
        self.accounts = accounts
        self.token = token
        self.identity = identity or (PasswordIdentity(accounts, clock=clock) if accounts is not None else None)
        self.session_seconds = session_seconds
        self.clock = clock
        self._users_seen: tuple[float, bool] = (-_USERS_CACHE, False)

    async def who(self, bearer: bytes | None, cookie: str | None) -> Principal | None:
        """The principal of a request with this ``Authorization`` value and session cookie; None: nobody."""
        import hmac

        if self.token and bearer is not None and bearer.startswith(b"Bearer ") and \
                hmac.compare_digest(bearer[7:].strip(), self.token.encode()):
            return Principal("token", Role.PUBLISHER, "token")
        if cookie and self.accounts is not None:
            try:
                session = await asyncio.wait_for(self.accounts.session(session_key(cookie)), _STORE_WAIT)
            except Exception:  # the store away: no session can be proved (the token still works)
                session = None
            if session is not None:
                return Principal(session.user.name, session.user.role, "session", session.csrf, cookie)
        if not self.token and not await self._anyone():
            return Principal("local", Role.PUBLISHER, "local")
        return None

    async def _anyone(self) -> bool:
        """Whether any user is set up (cached a few seconds: asked on requests without credentials)."""
        if self.accounts is None:
            return False
        at, anyone = self._users_seen
        if self.clock() - at >= _USERS_CACHE:
            try:
                anyone = bool(await asyncio.wait_for(self.accounts.users(), _STORE_WAIT))
            except Exception:  # the store away: what it last said (a console with users stays closed)
                pass
            self._users_seen = (self.clock(), anyone)
        return anyone

    async def sign_in(self, name: str, password: str, origin: str) -> Principal | None:
        """Check a user's password; their new session (None: wrong name or password, or locked)."""
        if self.identity is None or self.accounts is None:
            return None
        user = await self.identity.identify(name, password, origin)
        return await self.open(user, origin) if user is not None else None

    async def open(self, user: User, origin: str) -> Principal:
        """A new session for a user an identity provider vouched for."""
        assert self.accounts is not None
        session_id, csrf = new_session_id(), new_csrf_token()
        await self.accounts.add_session(session_key(session_id), user.name, csrf, self.clock() + self.session_seconds)
        await self.accounts.add_audit(user.name, AuditAction.SIGN_IN, f"user {user.name}", origin,
                                      {"role": user.role.value})
        return Principal(user.name, user.role, "session", csrf, session_id)

    async def sign_out(self, principal: Principal, origin: str) -> None:
        """End a session."""
        if self.accounts is not None and principal.session_id:
            await self.accounts.end_session(session_key(principal.session_id))
            await self.accounts.add_audit(principal.name, AuditAction.SIGN_OUT, f"user {principal.name}", origin)

    @staticmethod
    def form_ok(principal: Principal, given: str | None) -> bool:
        """Whether a state-changing request carries its session's form token (no session: none needed)."""
        if principal.csrf is None:
            return True
        return given is not None and same_token(given, principal.csrf)
