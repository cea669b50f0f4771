"""The HTTP API: one controller per resource. Handlers parse, authorize, call one use case
and shape the response.

Errors: a malformed body or query is a 400 (from validation); the use cases raise the kit's
domain errors, which the app maps to problem documents: a well-formed request that breaks a
rule or names an unknown value — currency, amount out of bounds, conversion, invalid match,
rating category, leaderboard — is a 422 (wherever the value appears: path, query or body);
insufficient funds and a reused match id are 409. Nothing is written for any of them. The caller's own wallet is the only one a user can touch: no route takes a user id
except the admin ones.
"""

from litestar.types import ControllerRouterHandler

from gamification_service.api.admin import AdminController
from gamification_service.api.badges import BadgeController
from gamification_service.api.leaderboards import LeaderboardController
from gamification_service.api.ratings import RatingController
from gamification_service.api.wallet import LevelController, WalletController

ROUTES: list[ControllerRouterHandler] = [
    WalletController,
    LevelController,
    BadgeController,
    RatingController,
    LeaderboardController,
    AdminController,
]

__all__ = ["ROUTES"]
