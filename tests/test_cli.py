from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from yof_darknet import __version__
from yof_darknet.cli import main


def test_python_dash_m_runs_the_cli():
    out = subprocess.run(
        [sys.executable, "-m", "yof_darknet", "--version"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert __version__ in out.stdout


def test_every_command_has_help():
    runner = CliRunner()
    assert main.commands, "no command registered"
    for name in main.commands:
        result = runner.invoke(main, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert "Usage:" in result.output
