"""Request and response bodies: ai-service's contract, declared once in the kit
(``deepiri_kit.contracts.agent``) so its callers use the very same structs."""

from __future__ import annotations

from deepiri_kit.contracts.agent import (
    ChallengeRequest,
    GeneratedChallenge,
    TaskUnderstanding,
    TaskUnderstandingRequest,
)

__all__ = [
    "ChallengeRequest",
    "GeneratedChallenge",
    "TaskUnderstanding",
    "TaskUnderstandingRequest",
]
