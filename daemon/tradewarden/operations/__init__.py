"""What a human does: control requests, actions, status, backup, diagnose."""
