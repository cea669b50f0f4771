"""Events: what challenge-service publishes (publish.py) and consumes (consume.py)."""
