"""Password rules after NIST SP 800-63B §3.1.1.2: length, not composition. At least 12
characters (a passphrase of ordinary words easily is), at most 256, any Unicode (NFKC
normalised before hashing, so the same phrase typed on two keyboards is one password), and
refused when it is among the 30,000 most common passwords, repeats or walks a few
characters, or contains the account's own email name or the service's name."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from functools import cache
from importlib import resources

from deepiri_kit.errors import Invalid

MIN_LENGTH = 12
MAX_LENGTH = 256
MIN_DISTINCT = 5
SERVICE_WORDS = ("deepiri",)


class WeakPassword(Invalid):
    """The password breaks a rule; the message says which, without echoing it."""


@cache
def common_passwords() -> frozenset[str]:
    """The shipped list (data/common-passwords.txt: zxcvbn's 30,000 most common, MIT)."""
    text = resources.files(__package__).joinpath("data/common-passwords.txt").read_text("utf-8")
    return frozenset(line for line in text.splitlines() if line)


def normalise_password(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


def check_password(password: str, *, context: Iterable[str] = ()) -> str:
    """The normalised password, or :class:`WeakPassword`. ``context``: words specific to
    this account (its email's local part, its display name) that must not be the password."""
    clean = normalise_password(password)
    if len(clean) < MIN_LENGTH:
        raise WeakPassword(f"the password must have at least {MIN_LENGTH} characters")
    if len(clean) > MAX_LENGTH:
        raise WeakPassword(f"the password must have at most {MAX_LENGTH} characters")
    folded = clean.casefold()
    if folded in common_passwords() or folded.rstrip("0123456789!") in common_passwords():
        raise WeakPassword("that password is among the most commonly used; choose another")
    if len(set(folded)) < MIN_DISTINCT:
        raise WeakPassword("the password repeats too few characters; choose a phrase")
    rest = folded
    for word in (*SERVICE_WORDS, *context):
        word = word.casefold().strip()
        if len(word) >= 4:
            rest = rest.replace(word, "")
    if rest != folded and sum(c.isalnum() for c in rest) < MIN_LENGTH // 2:
        raise WeakPassword("the password is mostly your name, email or the service's name")
    return clean
