"""Without arguments, serves the API: the image's CMD and the system tests' start command
are ``python -m challenge_service``. With arguments, runs an operator command (cli.py)."""

import sys

if len(sys.argv) > 1:
    from challenge_service.cli import main

    raise SystemExit(main(sys.argv[1:]))

from challenge_service.settings import ChallengeSettings
from deepiri_kit import run

run("challenge_service.app:create_app", ChallengeSettings)
