"""Training engine: a thin loop on Lightning Fabric with hooks, self-describing checkpoints and typed config."""
