"""Gatekeeper: face-recognition access control with an auditable log and a terminal console."""

__version__ = "0.1.0"
