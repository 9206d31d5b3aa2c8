"""Funds discipline: hot/cold split, rebalance proposals, cold-backup recovery check."""
