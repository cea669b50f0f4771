"""Persistence only: presence in Redis, no rules and no Socket.IO."""
