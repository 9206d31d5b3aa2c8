"""What the daemon remembers: the SQLite store."""
