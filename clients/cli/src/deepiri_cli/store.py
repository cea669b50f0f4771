"""Where the tokens live: one JSON file in the user's config directory, readable by its owner
only (the directory 0700, the file 0600, written whole and renamed into place so a crash
never leaves half a file), and a lock so that two ``deepiri token`` at once do not both
spend the same refresh token (the second would look like a stolen one and revoke the
sign-in)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

FILE_NAME = "credentials.json"


class StoreError(Exception):
    """The stored credentials cannot be used as they are (the message says why)."""


def config_dir() -> Path:
    """``$DEEPIRI_CONFIG_DIR``, else ``$XDG_CONFIG_HOME/deepiri``, else ``~/.config/deepiri``."""
    explicit = os.environ.get("DEEPIRI_CONFIG_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "deepiri"


@dataclass(frozen=True)
class Credentials:
    """A sign-in: where it was made and the token response (Authlib's, with ``expires_at``)."""

    issuer: str
    client_id: str
    token_endpoint: str
    revocation_endpoint: str
    token: dict[str, Any]


class Store:
    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or config_dir()
        self.path = self.directory / FILE_NAME

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Held across read, refresh and write: one deepiri process at a time changes tokens."""
        self._make_directory()
        fd = os.open(self.directory / "credentials.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def load(self) -> Credentials | None:
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            return None
        with os.fdopen(fd, encoding="utf-8") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise StoreError(
                    f"{self.path} can be read by others (mode {stat.S_IMODE(mode):o}): "
                    "run `deepiri logout` and sign in again"
                )
            try:
                return Credentials(**json.load(handle))
            except (ValueError, TypeError) as exc:
                raise StoreError(f"{self.path} is not a deepiri credentials file: {exc}") from None

    def save(self, credentials: Credentials) -> None:
        self._make_directory()
        # mkstemp creates the file 0600, whatever the umask; the rename makes it whole at once.
        fd, temporary = tempfile.mkstemp(dir=self.directory, prefix=".credentials-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(asdict(credentials), handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise

    def delete(self) -> bool:
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        return True

    def _make_directory(self) -> None:
        # 0700 when we create it; an existing directory is left as its owner made it (the
        # file itself is 0600 either way).
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
