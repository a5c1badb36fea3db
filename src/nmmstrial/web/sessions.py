"""Logins and server-side sessions of the browser app, kept in the study database.

Policy (docs/web.md):
- A session is a random 256-bit token in a cookie; the database keeps only its SHA-256
  (table `web_sessions`), so a copy of the database cannot take over a session.
- A session ends at logout, or after `idle_minutes` without a request (default 15),
  or when its user no longer exists; an ended session is never revived.
- The CSRF token of a session is derived from its token (HMAC), so it needs no storage
  and cannot be computed from what the database holds.
- A failed login says the same for an unknown user and a wrong password (the conduct
  layer's `authenticate`). From the `slowdown_after`-th failure of a user name within
  `slowdown_window_minutes`, each further attempt of that name waits, doubling up to
  `slowdown_max_seconds`; other names are not slowed. The failures are counted from
  the audit trail, so they hold across restarts and processes.
- Every login, failed login, logout and expiry is an audit record.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine, func, select, update

from ..conduct import User, authenticate
from ..conduct.users import LOGIN_FAILED
from ..errors import AccessError
from ..store.audit import AuditEntry, append_audit
from ..store.io import read_users
from ..store.schema import audit_table, users_table, web_sessions_table

COOKIE = "nmmstrial_session"
LOGIN_CSRF_COOKIE = "nmmstrial_login_csrf"
# last_seen is written at most this often, so reading pages does not write every time.
TOUCH_SECONDS = 10
# A user name as stored in the trail for a failed login (what was typed, cut short).
MAX_NAME = 64


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Settings:
    """How the app behaves; the defaults are the documented ones (docs/web.md)."""

    idle_minutes: float = 15
    slowdown_after: int = 5
    slowdown_window_minutes: float = 15
    slowdown_seconds: float = 1.0
    slowdown_max_seconds: float = 16.0
    # None: Secure cookies exactly when the request came over https.
    secure_cookies: bool | None = None
    clock: Callable[[], dt.datetime] = field(default=utc_now)

    def utc(self) -> str:
        return stamp(self.clock())


def stamp(moment: dt.datetime) -> str:
    """UTC time as the audit trail writes it (ISO 8601, seconds, +00:00)."""
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds")


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_for(token: str) -> str:
    """The session's CSRF token: HMAC of a fixed label under the session token."""
    return hmac.new(token.encode(), b"nmmstrial csrf", hashlib.sha256).hexdigest()


def csrf_matches(expected: str, given: object) -> bool:
    return isinstance(given, str) and hmac.compare_digest(expected, given)


@dataclass(frozen=True)
class WebSession:
    """A live session: who, and the CSRF token its forms must carry."""

    id: int
    user: User
    csrf: str


class SessionStore:
    """Sessions and logins over one study database's engine."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings

    def failures(self, name: str) -> int:
        """Failed logins of `name` within the slow-down window."""
        since = stamp(
            self.settings.clock() - dt.timedelta(minutes=self.settings.slowdown_window_minutes)
        )
        with self.engine.connect() as connection:
            return connection.execute(
                select(func.count())
                .select_from(audit_table)
                .where(
                    audit_table.c.action == "login-failed",
                    audit_table.c.user == name[:MAX_NAME],
                    audit_table.c.utc >= since,
                )
            ).scalar_one()

    def delay(self, name: str) -> float:
        """Seconds the next login of `name` waits (0 below the threshold)."""
        extra = self.failures(name) - self.settings.slowdown_after + 1
        if extra <= 0:
            return 0.0
        seconds = self.settings.slowdown_seconds * 2 ** (extra - 1)
        return min(seconds, self.settings.slowdown_max_seconds)

    def login(self, name: str, password: str) -> tuple[User, str]:
        """A new session's (user, token); AccessError (one message for any failure)."""
        utc = self.settings.utc()
        with self.engine.begin() as connection:
            users = read_users(connection)
        try:
            user = authenticate(users, name, password)
        except AccessError:
            entry = AuditEntry(
                utc=utc, user=name[:MAX_NAME], role="", action="login-failed", table="web"
            )
            with self.engine.begin() as connection:
                append_audit(connection, [entry])
            raise
        token = secrets.token_urlsafe(32)
        with self.engine.begin() as connection:
            result = connection.execute(
                web_sessions_table.insert(),
                {
                    "token_sha256": token_sha256(token),
                    "user": user.name,
                    "created_utc": utc,
                    "last_seen_utc": utc,
                },
            )
            session_id = result.inserted_primary_key[0]
            append_audit(
                connection,
                [self._entry(user, utc, "login", session_id)],
            )
        return user, token

    @staticmethod
    def _entry(user: User, utc: str, action: str, session_id: int, reason: str | None = None):
        return AuditEntry(
            utc=utc,
            user=user.name,
            role=user.role,
            action=action,
            table="web",
            record=f"session {session_id}",
            reason=reason,
        )

    def resolve(self, token: str | None) -> WebSession | None:
        """The live session of `token`, touched; None when unknown, ended or idle."""
        if not token:
            return None
        now = self.settings.clock()
        utc = stamp(now)
        with self.engine.begin() as connection:
            row = connection.execute(
                select(web_sessions_table).where(
                    web_sessions_table.c.token_sha256 == token_sha256(token)
                )
            ).first()
            if row is None or row.revoked_utc is not None:
                return None
            user_row = connection.execute(
                select(users_table.c.name, users_table.c.role).where(users_table.c.name == row.user)
            ).first()
            last = dt.datetime.fromisoformat(row.last_seen_utc)
            idle = now - last
            if user_row is None or idle > dt.timedelta(minutes=self.settings.idle_minutes):
                self._revoke(connection, row.id, utc)
                if user_row is not None:
                    user = User(user_row.name, user_row.role)
                    reason = f"idle for more than {self.settings.idle_minutes:g} minutes"
                    append_audit(connection, [self._entry(user, utc, "logout", row.id, reason)])
                return None
            if idle.total_seconds() >= TOUCH_SECONDS:
                connection.execute(
                    update(web_sessions_table)
                    .where(web_sessions_table.c.id == row.id)
                    .values(last_seen_utc=utc)
                )
        return WebSession(row.id, User(user_row.name, user_row.role), csrf_for(token))

    def logout(self, session: WebSession) -> None:
        utc = self.settings.utc()
        with self.engine.begin() as connection:
            self._revoke(connection, session.id, utc)
            append_audit(connection, [self._entry(session.user, utc, "logout", session.id)])

    @staticmethod
    def _revoke(connection, session_id: int, utc: str) -> None:
        connection.execute(
            update(web_sessions_table)
            .where(
                web_sessions_table.c.id == session_id, web_sessions_table.c.revoked_utc.is_(None)
            )
            .values(revoked_utc=utc)
        )


LOGIN_FAILED_MESSAGE = LOGIN_FAILED
