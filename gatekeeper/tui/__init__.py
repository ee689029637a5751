"""The Gatekeeper console (Textual): live camera status, decisions, the access log, people.

``gatekeeper`` with no command opens it through :func:`gatekeeper.tui.app.run_console`.
"""
