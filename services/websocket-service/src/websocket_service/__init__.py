"""Deepiri websocket-service: delivers the platform's events to users' open apps over
Socket.IO (WebSocket transport), keeps presence, and drains on shutdown (docs/services/
websocket-service.md)."""
