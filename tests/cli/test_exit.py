"""The program's exit: its status, and nothing lost when it skips the interpreter's teardown."""

import subprocess
import sys

import pytest

PROGRAM = """
import sys
if {loaded}:
    sys.modules["tensorflow"] = type(sys)("tensorflow")  # as after the console's models
from gatekeeper import cli
def main():
    print("printed", end="")
    print("noted", end="", file=sys.stderr)
    return 3
cli.main = main
cli.run()
"""


@pytest.mark.parametrize("loaded", [False, True])
def test_run_exits_with_mains_status_and_flushes_its_output(loaded):
    result = subprocess.run(
        [sys.executable, "-c", PROGRAM.format(loaded=loaded)], capture_output=True, text=True
    )
    assert (result.returncode, result.stdout, result.stderr) == (3, "printed", "noted")
