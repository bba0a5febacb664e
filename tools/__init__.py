"""Developer tools (not shipped): building the release knowledge."""
