"""The HTTP API (presence) and the Socket.IO side (sockets.py): who may connect, rooms,
token lifetimes, drain."""

from websocket_service.api.presence import PresenceController

ROUTES = [PresenceController]

__all__ = ["ROUTES"]
