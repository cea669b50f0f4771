"""The use cases one process runs, as the app, the workers and the CLI share them."""

from __future__ import annotations

from dataclasses import dataclass

from user_service.service.accounts import AccountService
from user_service.service.activity import ActivityLog
from user_service.service.provider import Provider
from user_service.service.sessions import Sessions
from user_service.service.skills import SkillTrees
from user_service.service.social import SocialGraph


@dataclass
class Services:
    accounts: AccountService
    sessions: Sessions
    provider: Provider
    skills: SkillTrees
    social: SocialGraph
    activity: ActivityLog
