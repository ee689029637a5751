"""The console's help: the keys of every screen, read from their bindings."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from gatekeeper.tui.palette import decisions_legend
from gatekeeper.tui.people_screen import PeopleScreen
from gatekeeper.tui.screens import MainScreen, VisitorsScreen


class HelpScreen(ModalScreen):
    """The keys of every screen, read from their bindings."""

    BINDINGS = [Binding("escape,question_mark,f1,q", "app.pop_screen", "Close", key_display="esc")]

    def compose(self) -> ComposeResult:
        text = Text()
        text.append("Gatekeeper — keys\n\n", "bold")
        for title, bindings in (
            ("Main screen", MainScreen.BINDINGS),
            ("People screen", PeopleScreen.BINDINGS),
            ("Visitors screen", VisitorsScreen.BINDINGS),
        ):
            text.append(f"{title}\n", "bold underline")
            for binding in bindings:
                assert isinstance(binding, Binding)
                keys = ", ".join(
                    key.replace("question_mark", "?") for key in binding.key.split(",")
                )
                text.append(f"  {keys:<14}", "bold cyan").append(f"{binding.description}\n")
            text.append("\n")
        text.append("Everywhere\n", "bold underline")
        text.append(f"  {'ctrl+p':<14}", "bold cyan").append("Command palette\n")
        text.append(f"  {'tab':<14}", "bold cyan").append("Next field or table\n")
        text.append(f"  {'esc':<14}", "bold cyan").append("Close a dialog or screen\n")
        text.append(f"  {'ctrl+q':<14}", "bold cyan").append("Quit at once, without asking\n\n")
        text.append(
            f"Decisions: {decisions_legend()}. A person is decided on after several matching "
            "frames, then at most once per recognition interval.",
            "dim",
        )
        with VerticalScroll(id="help"):
            yield Static(text)
