"""The README's planner worked examples still print what the page shows."""

import shlex
from pathlib import Path

import pytest

from simgap.plan.__main__ import main

ROOT = Path(__file__).resolve().parents[1]
PREFIX = ".venv/bin/python -m simgap.plan "


def _examples():
    text = (ROOT / "README.md").read_text()
    checked = text[text.index("<!-- the two examples below are checked by tests/test_plan_docs.py -->"):]
    blocks = checked.split("```bash\n")[1:3]
    out = []
    for b in blocks:
        command, rest = b.split("\n```\n", 1)
        printed = rest.split("```\n", 1)[1].split("\n```", 1)[0]
        out.append((command, printed))
    return out


@pytest.mark.parametrize("command,printed", _examples(), ids=["three checkpoints", "eight students"])
def test_worked_example_prints_as_documented(command, printed, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert command.startswith(PREFIX)
    assert main(shlex.split(command[len(PREFIX):])) == 0
    assert capsys.readouterr().out.rstrip("\n") == printed
