"""The seed's keyword fallback, kept: what a piece of work is about, read from its words
(titles, tags, skill ids). Deterministic: the same words always give the same category."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from deepiri_kit.contracts.agent import Category

# Category → words that point at it (whole words, lower case; hyphenated ids are split).
KEYWORDS: dict[Category, frozenset[str]] = {
    "coding": frozenset(
        [
            "code",
            "coding",
            "bug",
            "bugs",
            "fix",
            "refactor",
            "api",
            "deploy",
            "test",
            "tests",
            "python",
            "javascript",
            "rust",
            "go",
            "program",
            "programming",
            "debug",
            "review",
            "pr",
            "merge",
            "build",
            "backend",
            "frontend",
            "database",
            "sql",
        ]
    ),
    "creative": frozenset(
        [
            "write",
            "writing",
            "draft",
            "design",
            "draw",
            "drawing",
            "paint",
            "music",
            "compose",
            "sketch",
            "video",
            "photo",
            "blog",
            "story",
            "poem",
            "edit",
            "art",
        ]
    ),
    "study": frozenset(
        [
            "study",
            "learn",
            "learning",
            "read",
            "reading",
            "course",
            "lecture",
            "exam",
            "homework",
            "research",
            "practice",
            "book",
            "notes",
            "revise",
            "revision",
            "flashcards",
        ]
    ),
    "social": frozenset(
        [
            "call",
            "meet",
            "meeting",
            "email",
            "friend",
            "friends",
            "family",
            "team",
            "network",
            "reply",
            "message",
            "invite",
            "party",
            "visit",
        ]
    ),
    "productivity": frozenset(
        [
            "plan",
            "planning",
            "organize",
            "organise",
            "clean",
            "inbox",
            "errands",
            "admin",
            "report",
            "review",
            "schedule",
            "budget",
            "tidy",
            "chores",
            "deep-work",
            "focus",
        ]
    ),
}
WORD = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def words(texts: Iterable[str]) -> list[str]:
    """Every word of ``texts``, lower case; a hyphenated word also counts as its parts."""
    found: list[str] = []
    for text in texts:
        for word in WORD.findall(text.lower()):
            found.append(word)
            if "-" in word:
                found.extend(word.split("-"))
    return found


def classify(texts: Iterable[str]) -> Category:
    """The category most of the words point at; ``productivity`` when none do (ties go to
    the category listed first)."""
    counts: Counter[Category] = Counter()
    for word in words(texts):
        for category, vocabulary in KEYWORDS.items():
            if word in vocabulary:
                counts[category] += 1
    if not counts:
        return "productivity"
    best = max(counts.values())
    return next(c for c in KEYWORDS if counts[c] == best)
