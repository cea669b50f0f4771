from deepiri_kit.serve import run
from task_service.settings import TaskSettings

run("task_service.app:create_app", TaskSettings)
