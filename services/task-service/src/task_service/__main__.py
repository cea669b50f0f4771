"""``python -m task_service`` serves the API (the image's CMD). Maintenance commands:

python -m task_service replay --since T [--until T]   # re-publish journalled events
python -m task_service completions --since T          # task.completed events, JSON lines
"""

import sys

if len(sys.argv) > 1:
    from task_service.cli import main

    raise SystemExit(main(sys.argv[1:]))

from deepiri_kit import run
from task_service.settings import TaskSettings

run("task_service.app:create_app", TaskSettings)
