"""tradewarden infrastructure: the Pulumi program, its components and its policy pack.

Importing this package has no side effects; `infra/__main__.py` is the Pulumi entry point.
"""
