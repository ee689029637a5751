"""The Gatekeeper console (Textual): live camera status, decisions, the access log, people.

Start it with :func:`gatekeeper.tui.app.run_console`; ``python -m gatekeeper.tui`` does so from
a few command-line options.
"""
