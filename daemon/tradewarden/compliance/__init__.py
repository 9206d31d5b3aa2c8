"""The compliance evidence packet: generated from what the system really does."""
