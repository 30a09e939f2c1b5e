"""Allow `python -m tambuli`."""

from tambuli.cli import main

main()
