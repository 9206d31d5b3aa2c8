"""`python -m tradewarden.cli.main` runs the command line."""

from tradewarden.cli.main import main

main()
