"""What gamification-service publishes (:mod:`.publish`) and consumes (:mod:`.consume`)."""
