"""``python -m nodesim`` = ``payhub-nodesim``."""

from nodesim.cli import main

main()
