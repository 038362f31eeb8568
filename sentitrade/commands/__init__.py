"""Sub-command groups that `sentitrade.cli` mounts."""
