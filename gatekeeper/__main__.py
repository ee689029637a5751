"""``python -m gatekeeper``: the same as the ``gatekeeper`` command."""

from gatekeeper.cli import run

run()
