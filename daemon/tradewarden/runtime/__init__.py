"""What runs: the daemon, its wiring, loops, start-up, systemd, metrics."""
