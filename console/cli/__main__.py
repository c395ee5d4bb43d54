"""`python -m console.cli`: the same entry point as the `nls` script."""

from console.cli import main

main()
