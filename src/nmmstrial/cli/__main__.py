"""`python -m nmmstrial.cli`, the same as the `nmmstrial` command."""

from . import main

main()
