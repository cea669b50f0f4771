"""``python -m gamification_service`` serves the API (the image's CMD). Maintenance commands:

python -m gamification_service rebuild-leaderboards   # rebuild every board from MongoDB
python -m gamification_service reconcile [USER_ID…]    # replay ledgers, repair wallets
python -m gamification_service backfill-badges        # award badges from recorded stats
python -m gamification_service check-credits < completions.jsonl   # completions never credited
"""

import sys

if len(sys.argv) > 1:
    from gamification_service.cli import main

    raise SystemExit(main(sys.argv[1:]))

from deepiri_kit import run
from gamification_service.settings import GamificationSettings

run("gamification_service.app:create_app", GamificationSettings)
