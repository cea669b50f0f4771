"""Events: what websocket-service consumes (consume.py: the platform's streams) and what it
publishes (publish.py: the Socket.IO events its clients receive)."""
