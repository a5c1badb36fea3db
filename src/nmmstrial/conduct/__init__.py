"""Running the trial: users and roles (enrolment, allocation, visits and lock to come)."""

from .users import (
    ROLES,
    UNBLINDED_ROLES,
    User,
    UserRecord,
    authenticate,
    hash_password,
    new_user,
    password_matches,
    require_role,
)

__all__ = [
    "ROLES",
    "UNBLINDED_ROLES",
    "User",
    "UserRecord",
    "authenticate",
    "hash_password",
    "new_user",
    "password_matches",
    "require_role",
]
