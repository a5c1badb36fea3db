"""Users, roles and passwords: who may read and write what.

Passwords are stored only as scrypt hashes (a memory-hard, deliberately slow hash from
Python's standard library) with a random salt per user; the parameters travel with the
hash so they can be raised later. A failed login says the same thing for an unknown
user and a wrong password, so names cannot be probed.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from ..errors import AccessError, InvalidValueError
from ..study import Study

ROLES = (
    "statistician",
    "unblinded_physician",
    "assessor",
    "electrophysiologist",
    "lab",
    "monitor",
    "admin",
)
# Roles that may see the allocation (admin only after unblinding: the conduct layer).
UNBLINDED_ROLES = ("unblinded_physician",)
# scrypt cost: 2^14 x 8 x 128 B = 16 MiB and tens of milliseconds per check.
SCRYPT = {"n": 2**14, "r": 8, "p": 1}
LOGIN_FAILED = "login failed: unknown user or wrong password"


@dataclass(frozen=True)
class User:
    name: str
    role: str

    @property
    def blinded(self) -> bool:
        return self.role not in UNBLINDED_ROLES

    def sees_arms(self, meta: dict) -> bool:
        """Real / sham for unblinded roles, and for everyone once the study is unblinded."""
        return not self.blinded or bool(meta.get("unblinded"))


def seen_by(study: Study, user: User) -> Study:
    """The study as `user` may see it in reports: arms coded X / Y (`meta["blinded"]`)
    for blinded roles until the study is unblinded, real / sham otherwise."""
    meta = {**study.meta, "blinded": not user.sees_arms(study.meta)}
    return dataclasses.replace(study, meta=meta, tables=dict(study.tables))


@dataclass(frozen=True)
class UserRecord:
    """A user as stored: the password only as its hash."""

    name: str
    role: str
    password_hash: str


def check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidValueError(f"role {role!r} is not one of {', '.join(ROLES)}")
    return role


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """`scrypt$n$r$p$salt$hash`, base64; a fresh random salt unless one is given."""
    if not password:
        raise InvalidValueError("an empty password is not allowed")
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, maxmem=64 * 2**20, **SCRYPT)
    salt_text = base64.b64encode(salt).decode()
    digest_text = base64.b64encode(digest).decode()
    return f"scrypt${SCRYPT['n']}${SCRYPT['r']}${SCRYPT['p']}${salt_text}${digest_text}"


def password_matches(stored: str, password: str) -> bool:
    """Constant-time comparison against a stored scrypt hash."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    candidate = hashlib.scrypt(
        password.encode(),
        salt=base64.b64decode(salt),
        n=int(n),
        r=int(r),
        p=int(p),
        maxmem=64 * 2**20,
    )
    return hmac.compare_digest(candidate, base64.b64decode(digest))


def new_user(name: str, role: str, password: str) -> UserRecord:
    if not name or not name.replace("_", "").replace("-", "").replace(".", "").isalnum():
        raise InvalidValueError(
            f"user name {name!r}: use letters, digits, '.', '-' or '_' (no spaces)"
        )
    return UserRecord(name, check_role(role), hash_password(password))


def authenticate(records: dict[str, UserRecord], name: str, password: str) -> User:
    """The user, if the password matches; one message for every failure."""
    record = records.get(name)
    # Hash even for an unknown name, so the time taken does not tell whether it exists.
    stored = record.password_hash if record else hash_password("x", salt=b"\0" * 16)
    if not password_matches(stored, password) or record is None:
        raise AccessError(LOGIN_FAILED)
    return User(record.name, record.role)


def require_role(user: User, allowed: tuple[str, ...], action: str) -> None:
    if user.role not in allowed:
        raise AccessError(
            f"{user.name} ({user.role}) may not {action}; allowed: {', '.join(allowed)}"
        )
