"""``/badges``: the catalog and the caller's badges."""

from __future__ import annotations

from litestar import Controller, get
from litestar.di import NamedDependency

from gamification_service.api.params import READ, Caller
from gamification_service.schemas import BadgeOut, CatalogOut, EarnedOut, MyBadgesOut, ProgressOut
from gamification_service.service import Wallets

WalletsDep = NamedDependency[Wallets]


class BadgeController(Controller):
    path = "/badges"
    tags = ["badges"]

    @get("/", guards=READ)
    async def catalog(self, request: Caller, wallets: WalletsDep) -> CatalogOut:
        """Every badge, except secret ones the caller has not earned (they are only counted)."""
        shown, hidden = await wallets.visible_badges(request.user.subject)
        return CatalogOut(badges=[BadgeOut.of(b) for b in shown], hidden_secret_badges=hidden)

    @get("/me", guards=READ)
    async def mine(self, request: Caller, wallets: WalletsDep) -> MyBadgesOut:
        """Badges earned (newest first) and progress toward every visible badge not yet earned."""
        status = await wallets.badges_of(request.user.subject)
        return MyBadgesOut(
            earned=[EarnedOut(badge=BadgeOut.of(b), earned_at=at) for b, at in status.earned],
            progress=[
                ProgressOut(
                    badge=BadgeOut.of(b), current=p.current, target=p.target, progress=p.fraction
                )
                for b, p in status.progress
            ],
        )
