"""Persistence only: tasks and their version log (:mod:`.tasks`), dependency edges
(:mod:`.edges`), erased accounts' tombstones (:mod:`.erasures`). Documents in, documents
out; refusals are the kit's domain errors."""
