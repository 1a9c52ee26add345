import importlib
import pkgutil
import tomllib
from pathlib import Path

import simgap


def test_version_is_the_one_in_pyproject():
    pyproject = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    assert simgap.__version__ == pyproject["project"]["version"]


def test_every_module_imports():
    names = [m.name for m in pkgutil.walk_packages(simgap.__path__, "simgap.")
             if not m.name.endswith(".__main__")]  # entry points run on import
    assert {"simgap.engine", "simgap.optim", "simgap.families.mlp", "simgap.fit.solver", "simgap.plan.link"} <= set(names)
    for name in names:
        importlib.import_module(name)
