"""The HTTP API: one controller per resource. Handlers parse, authorize, call one use case
and shape the response."""

from litestar import Controller

from user_service.api.accounts import AccountController
from user_service.api.activity import ActivityController
from user_service.api.oauth import DeviceController, DiscoveryController, OAuthController
from user_service.api.pages import PageController
from user_service.api.skills import SkillController
from user_service.api.social import (
    BlockController,
    FollowController,
    FriendCircleController,
    FriendController,
    RivalController,
    ServiceFriendController,
    TeamController,
)

ROUTES: list[type[Controller]] = [
    PageController,
    OAuthController,
    DeviceController,
    DiscoveryController,
    SkillController,
    ActivityController,
    FriendController,
    FriendCircleController,
    ServiceFriendController,
    BlockController,
    FollowController,
    TeamController,
    RivalController,
    AccountController,
]

__all__ = ["ROUTES"]
