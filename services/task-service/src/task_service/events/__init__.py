"""Events: what task-service publishes (:mod:`.publish`) and consumes (:mod:`.consume`)."""
