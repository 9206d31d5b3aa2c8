"""The hash-chained audit log and its off-host anchor."""
