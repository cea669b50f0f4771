"""Pure rules: challenges (lifecycle, progress, results) and what an event counts for. No I/O."""
