"""``/api/agent``: the two use cases, for other services only (a client-credentials token
with ``agent:invoke``; a person's token is refused even if it somehow carried the scope)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, post
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.handlers import BaseRouteHandler
from litestar.params import JSONBody

from ai_service.schemas import (
    ChallengeRequest,
    GeneratedChallenge,
    TaskUnderstanding,
    TaskUnderstandingRequest,
)
from ai_service.service import AgentService
from deepiri_kit import Forbidden, Principal, requires_scopes
from deepiri_kit.contracts.agent import SCOPE

Service = NamedDependency[AgentService]


def services_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    principal: Principal = connection.user
    if not principal.is_service:
        raise Forbidden("only services call ai-service (a client-credentials token)")


INVOKE = [requires_scopes(SCOPE), services_only]


class AgentController(Controller):
    path = "/"
    tags = ["agent"]

    @post("/challenges", guards=INVOKE, status_code=200)
    async def generate_challenge(
        self,
        data: JSONBody[ChallengeRequest],
        request: Request[Principal, Any, Any],
        service: Service,
    ) -> GeneratedChallenge:
        """One challenge for ``user_id``, of the kind asked for: the model's if it answers
        something the platform allows, else the fallback's (``answered_by`` says which)."""
        return await service.generate_challenge(data)

    @post("/tasks/understand", guards=INVOKE, status_code=200)
    async def understand_task(
        self,
        data: JSONBody[TaskUnderstandingRequest],
        request: Request[Principal, Any, Any],
        service: Service,
    ) -> TaskUnderstanding:
        """Free text → a task the user can confirm: title, due time in their zone, estimate,
        difficulty, tags, skills and steps."""
        return await service.understand_task(data)
