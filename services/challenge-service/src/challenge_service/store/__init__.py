"""Persistence only: documents in and out, no rules and no HTTP."""
