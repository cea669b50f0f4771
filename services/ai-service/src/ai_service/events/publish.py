"""What ai-service publishes: nothing. It answers requests and keeps no state of its own;
the callers (challenge-service) publish what follows from its answers."""
