"""task-service's rules, free of I/O and frameworks: tasks and their completion
(:mod:`.tasks`), daily schedules and streaks (:mod:`.schedules`), snapshot diffs
(:mod:`.diff`) and the dependency graph (:mod:`.graph`)."""

from deepiri_kit.contracts.tasks import Difficulty, Direction, Kind, Priority
from task_service.domain.tasks import Refused, RuleViolation

__all__ = ["Difficulty", "Direction", "Kind", "Priority", "Refused", "RuleViolation"]
