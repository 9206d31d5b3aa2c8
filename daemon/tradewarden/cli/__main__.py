"""`python -m tradewarden.cli` runs the command line."""

from tradewarden.cli.main import main

main()
