"""The repository names no package or image registry: every download comes from whatever the
machine's own configuration points at (apt sources, pip/npm/Go/cargo settings), and lock files
pin by hash, never by URL. The patterns below are written as regular expressions so that this
file does not itself contain the names it forbids."""

from __future__ import annotations

import re
import subprocess

import pytest

from support.charts import ROOT

pytestmark = pytest.mark.unit

REGISTRY_HOSTS = re.compile(
    r"\b("
    r"deb\.debian\.org|security\.debian\.org|"
    r"pypi\.org|files\.pythonhosted\.org|"
    r"registry\.npmjs\.org|registry\.yarnpkg\.com|"
    r"proxy\.golang\.org|"
    r"(index\.|static\.)?crates\.io|"
    r"(registry-1\.|index\.)?docker\.io|ghcr\.io|quay\.io|gcr\.io|registry\.k8s\.io|"
    r"repo1?\.maven(\.apache)?\.org"
    r")\b"
)


def tracked_text_files() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    return [name for name in out.decode().split("\0") if name]


def test_no_tracked_file_names_a_registry_host() -> None:
    offenders = []
    for name in tracked_text_files():
        try:
            text = (ROOT / name).read_text(encoding="utf-8")
        except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
            continue
        offenders += [
            f"{name}:{number}: {match.group(0)}"
            for number, line in enumerate(text.splitlines(), 1)
            if (match := REGISTRY_HOSTS.search(line))
        ]
    assert not offenders, "registry host names in the repository:\n" + "\n".join(offenders)


def test_lock_files_pin_by_hash_not_by_url() -> None:
    names = tracked_text_files()
    requirements = [
        n for n in names if re.search(r"requirements[^/]*\.txt$|^requirements/.+\.txt$", n)
    ]
    npm_locks = [n for n in names if n.endswith("package-lock.json")]
    assert requirements
    assert npm_locks
    for name in requirements:
        pins = [
            line
            for line in (ROOT / name).read_text().splitlines()
            if re.match(r"^[A-Za-z0-9_.-]+(\[[^]]*\])?==", line)
        ]
        assert pins, name
        text = (ROOT / name).read_text()
        assert "--hash=sha256:" in text, name
        assert not re.search(r"https?://|--(extra-)?index-url|--find-links", text), name
    for name in npm_locks:
        assert '"resolved"' not in (ROOT / name).read_text(), name
    assert not [n for n in names if n.endswith("uv.lock")]
