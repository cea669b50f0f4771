"""Events: what notification-service publishes (publish.py) and consumes (consume.py)."""
