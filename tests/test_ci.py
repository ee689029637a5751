"""CI never passes with tests unexecuted: a missing ``../shared/data`` fails the run."""

import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import require_shared_data

CI_RUN = Path(__file__).resolve().parents[1] / ".ci" / "run"


@pytest.mark.parametrize("ci", ["true", "TRUE", "1"])
def test_missing_shared_data_fails_the_test_in_ci(tmp_path, monkeypatch, ci):
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.fail.Exception, match="shared test data not found at .*CI=true"):
        require_shared_data(tmp_path / "shared" / "data")


@pytest.mark.parametrize("ci", [None, "", "false"])
def test_missing_shared_data_skips_the_test_elsewhere(tmp_path, monkeypatch, ci):
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.skip.Exception, match="shared test data not found at "):
        require_shared_data(tmp_path / "shared" / "data")
    assert require_shared_data(tmp_path) == tmp_path


def run_ci(root: Path) -> subprocess.CompletedProcess:
    """``.ci/run`` in a copy of the checkout at ``root/project``, with stand-ins for the programs
    it would go on to run (each records its name in ``root/called`` and fails)."""
    script = root / "project" / ".ci" / "run"
    script.parent.mkdir(parents=True)
    shutil.copy(CI_RUN, script)
    (root / "bin").mkdir()
    for name in ("apt-get", "python3"):
        program = root / "bin" / name
        program.write_text(f"#!/bin/sh\necho {name} >> {root / 'called'}\nexit 1\n")
        program.chmod(0o755)
    return subprocess.run(
        ["/bin/bash", str(script)],
        capture_output=True,
        text=True,
        env={"PATH": f"{root / 'bin'}:/usr/bin:/bin"},
        timeout=60,
    )


def test_ci_run_refuses_to_start_without_shared_data(tmp_path):
    result = run_ci(tmp_path)
    assert result.returncode == 1
    assert result.stderr == (
        ".ci/run: ../shared/data not found beside the checkout: "
        "the tests need its photos and video\n"
    )
    assert not (tmp_path / "called").exists(), "it went on to install and test"


def test_ci_run_goes_on_with_shared_data(tmp_path):
    (tmp_path / "shared" / "data").mkdir(parents=True)
    result = run_ci(tmp_path)
    assert result.returncode == 1  # the stand-in apt-get fails
    assert (tmp_path / "called").read_text() == "apt-get\n"
