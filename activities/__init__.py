"""Activities: the workflow's I/O against the store and Temporal (wake-ups)."""
