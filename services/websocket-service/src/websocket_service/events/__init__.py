"""Events: what websocket-service publishes (publish.py) and consumes (consume.py)."""
