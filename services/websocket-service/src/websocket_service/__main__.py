"""Without arguments, serves the API and the sockets: the image's CMD and the system tests'
start command are ``python -m websocket_service``. With arguments, runs an operator command
(cli.py)."""

import sys

if len(sys.argv) > 1:
    from websocket_service.cli import main

    raise SystemExit(main(sys.argv[1:]))

from deepiri_kit import run
from websocket_service.settings import WebsocketSettings

run("websocket_service.app:create_app", WebsocketSettings, ws="websockets-sansio")
