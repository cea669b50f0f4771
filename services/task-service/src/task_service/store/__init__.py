"""Persistence only: tasks and their version log (:mod:`.tasks`), dependency edges
(:mod:`.edges`); erased accounts' tombstones are the kit's ``Tombstones``. Documents in,
documents out; refusals are the kit's domain errors."""
