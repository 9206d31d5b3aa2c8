"""CrossGuard policies: checks in `checks`, policies in `policies`; `__main__` builds the pack."""
