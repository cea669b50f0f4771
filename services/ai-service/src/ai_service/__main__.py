"""Without arguments, serves the API: the image's CMD and the system tests' start command
are ``python -m ai_service``. With arguments, runs an operator command (cli.py)."""

import sys

if len(sys.argv) > 1:
    from ai_service.cli import main

    raise SystemExit(main(sys.argv[1:]))

from ai_service.settings import AiSettings
from deepiri_kit import run

run("ai_service.app:create_app", AiSettings)
