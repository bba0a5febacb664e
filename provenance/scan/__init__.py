"""``provenance scan``: audit a whole model registry, and relate its models to each other."""
