"""Without arguments, serves the API: the image's CMD and the system tests' start command
are ``python -m notification_service``. With arguments, runs an operator command (cli.py)."""

import sys

if len(sys.argv) > 1:
    from notification_service.cli import main

    raise SystemExit(main(sys.argv[1:]))

from deepiri_kit import run
from notification_service.settings import NotificationSettings

run("notification_service.app:create_app", NotificationSettings)
