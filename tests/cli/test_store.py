"""Where ``deepiri`` keeps the tokens: the owner's alone, written whole, one writer at a time."""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from deepiri_cli.store import Credentials, Store, StoreError, config_dir

pytestmark = pytest.mark.unit
SIGNED_IN = Credentials(
    issuer="http://127.0.0.1:5001/api/users",
    client_id="deepiri-cli",
    token_endpoint="http://127.0.0.1:5001/api/users/oauth/token",
    revocation_endpoint="http://127.0.0.1:5001/api/users/oauth/revoke",
    token={"access_token": "a", "refresh_token": "r", "expires_at": 1},
)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The most permissive umask: the store must not rely on the user's."""
    previous = os.umask(0)
    yield
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("open_umask")
def test_saved_credentials_are_the_owners_alone(tmp_path: Path) -> None:
    store = Store(tmp_path / "config" / "deepiri")
    store.save(SIGNED_IN)
    assert mode(store.path) == 0o600
    assert mode(store.directory) == 0o700
    assert store.load() == SIGNED_IN
    # Saving again replaces the file whole and leaves nothing else behind.
    store.save(Credentials(**{**SIGNED_IN.__dict__, "token": {"access_token": "b"}}))
    loaded = store.load()
    assert loaded is not None
    assert loaded.token == {"access_token": "b"}
    assert mode(store.path) == 0o600
    assert sorted(p.name for p in store.directory.iterdir()) == ["credentials.json"]


def test_a_file_others_can_read_is_refused(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.save(SIGNED_IN)
    store.path.chmod(0o644)
    with pytest.raises(StoreError, match="can be read by others"):
        store.load()


def test_a_file_that_is_not_ours_is_refused(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.path.write_text('{"issuer": "x"}')
    store.path.chmod(0o600)
    with pytest.raises(StoreError, match="not a deepiri credentials file"):
        store.load()


def test_nothing_stored_and_nothing_to_delete(tmp_path: Path) -> None:
    store = Store(tmp_path / "absent")
    assert store.load() is None
    assert store.delete() is False
    store.save(SIGNED_IN)
    assert store.delete() is True
    assert store.load() is None


def test_one_holder_of_the_lock_at_a_time(tmp_path: Path) -> None:
    store = Store(tmp_path)
    order: list[str] = []
    holding = threading.Event()

    def other() -> None:
        holding.wait()
        with store.locked():
            order.append("other")

    thread = threading.Thread(target=other)
    thread.start()
    with store.locked():
        holding.set()
        time.sleep(0.3)  # the other thread is blocked on the lock meanwhile
        order.append("first")
    thread.join(timeout=10)
    assert order == ["first", "other"]


def test_the_config_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DEEPIRI_CONFIG_DIR", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert config_dir() == tmp_path / "xdg" / "deepiri"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert config_dir() == tmp_path / "home" / ".config" / "deepiri"
    monkeypatch.setenv("DEEPIRI_CONFIG_DIR", str(tmp_path / "explicit"))
    assert config_dir() == tmp_path / "explicit"
