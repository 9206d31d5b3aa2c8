"""The `tradewarden` command line, one module per command group."""
