"""Datastore clients, opened in the app lifespan and closed on shutdown."""
