"""Deepiri gamification-service: wallets and ledger, rewards, levels, badges, ratings, leaderboards."""
