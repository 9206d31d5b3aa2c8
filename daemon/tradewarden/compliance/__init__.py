"""The compliance evidence packet (`tradewarden compliance packet`), generated from the
system itself: the controls matrix from a JUnit test run, the key-permission attestation
read from the exchange, masked log excerpts, the terms record and an executive summary.

The architecture diagram comes from ``tradewarden.compliance.diagram`` (its own module):
``render_architecture(out_dir: Path, stack: str | None) -> list[Path]`` writes
``architecture.dot``, ``architecture.svg`` and ``architecture.png`` into ``out_dir`` (the
packet passes ``DIR/diagram``, already created) and returns their paths; it raises when it
cannot render. Without the module, or when it fails, the packet reports the diagram as
missing and exits 1: it never ships a stand-in.
"""
