"""The compliance evidence packet (`tradewarden compliance packet`), generated from the
system itself: the controls matrix from a JUnit test run, the key-permission attestation
read from the exchange, masked log excerpts, the terms record and an executive summary."""
