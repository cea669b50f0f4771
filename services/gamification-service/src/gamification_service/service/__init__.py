"""The use cases: everything a handler, the consumer, a worker or a CLI command would
otherwise repeat. No HTTP here: what goes wrong is a domain error (the kit's, or a
``domain/__init__.py`` subclass of one), which the app maps to a problem document.

One module per job:

* ``wallets`` — :class:`Wallets`: record a ledger entry and bring the wallet up to date with
  it (exactly once, see ``store/ledger.py`` and ``store/snapshots.py``), spend and convert
  with their balance pre-checks, award badges, reconcile a wallet with its ledger;
* ``ratings`` — :class:`Ratings`: record a match once and award the badges it unlocks;
* ``leaderboards`` — :class:`Leaderboards`: read the boards; ``rebuild`` rebuilds them from
  MongoDB;
* ``friends`` — :class:`FriendBoards`: the boards among a user and their friends, the
  friendships kept from ``events.social`` and rebuilt from user-service;
* ``reactions`` — :class:`Reactions`: what consumed events do (``events/consume.py`` decodes
  them);
* ``erasure`` — :class:`Erasure`: erase a deleted account and keep it erased;
* ``announce`` — every event the use cases publish, built from the kit's contracts.
"""

from __future__ import annotations

from dataclasses import dataclass

from gamification_service.service.erasure import Erased, Erasure
from gamification_service.service.friends import FriendBoards
from gamification_service.service.leaderboards import Board, Leaderboards
from gamification_service.service.ratings import Opponents, Ratings, RatingStanding
from gamification_service.service.reactions import Reactions
from gamification_service.service.rebuild import Rebuild
from gamification_service.service.wallets import (
    BadgeStatus,
    CreditCheck,
    LedgerPage,
    Recorded,
    Report,
    Wallets,
    balances_now,
)

__all__ = [
    "BadgeStatus",
    "Board",
    "CreditCheck",
    "Erased",
    "Erasure",
    "FriendBoards",
    "Gamification",
    "Leaderboards",
    "LedgerPage",
    "Opponents",
    "RatingStanding",
    "Ratings",
    "Reactions",
    "Rebuild",
    "Recorded",
    "Report",
    "Wallets",
    "balances_now",
]


@dataclass
class Gamification:
    """Every use case, on one platform's stores (built by app.build)."""

    wallets: Wallets
    ratings: Ratings
    leaderboards: Leaderboards
    friends: FriendBoards
    reactions: Reactions
