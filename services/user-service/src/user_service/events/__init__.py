"""Events: what user-service publishes (publish.py) and consumes (consume.py)."""
