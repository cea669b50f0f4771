"""Persistence: MongoDB is the source of truth (ledger, wallets, ratings, matches); Redis holds
the leaderboards, which can always be rebuilt from MongoDB."""
