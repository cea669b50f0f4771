"""Persistence only: MongoDB is the source of truth (``ledger`` — the ledger, ``snapshots``
— wallets, ``ratings`` — rating chains and matches, ``profiles``, ``meta``); Redis holds the
leaderboards (``boards``), which can always be rebuilt from MongoDB. Stores take and return
documents and domain objects; rules and decisions live in ``domain/`` and ``service/``."""
