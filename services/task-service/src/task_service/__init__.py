"""Deepiri task-service: tasks, versions, dependency graph, completion events."""
