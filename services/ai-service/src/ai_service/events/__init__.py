"""Events: what ai-service publishes (publish.py) and consumes (consume.py)."""
