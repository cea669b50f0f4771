"""Without arguments, serves the API: the image's CMD and the system tests' start command
are ``python -m user_service``. With arguments, runs an operator command (cli.py)."""

import sys

if len(sys.argv) > 1:
    from user_service.cli import main

    raise SystemExit(main(sys.argv[1:]))

from deepiri_kit import run
from user_service.settings import UserSettings

run("user_service.app:create_app", UserSettings)
