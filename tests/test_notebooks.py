"""The example notebooks (examples/*.ipynb) run top to bottom, as a user's Jupyter would run them,
and are what examples/build_notebooks.py builds; the pilot table they fit is what
examples/make_pilot_table.py writes. Both notebooks together take ≈ 40 s on the 2-core CPU (they
keep their tables small and their bootstraps at 20); a run over 120 s fails, so they stay cheap."""

import importlib.util
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbclient")
pytest.importorskip("pandas")  # the notebooks read the pilot with pandas, as a user's notebook would


def example(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BUILD = example("build_notebooks")


def sources(nb) -> list[tuple[str, str]]:
    return [(c.cell_type, c.source) for c in nb.cells]


@pytest.mark.parametrize("name", sorted(BUILD.NOTEBOOKS))
def test_committed_notebook_is_the_built_one_and_was_executed(name):
    committed = nbformat.read(EXAMPLES / name, as_version=4)
    assert sources(committed) == sources(BUILD.notebook(BUILD.NOTEBOOKS[name])), \
        f"examples/{name} differs from examples/build_notebooks.py: run it with --execute"
    code = [c for c in committed.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code) and all(c.outputs for c in code[-2:]), \
        f"examples/{name} was committed unexecuted: run examples/build_notebooks.py --execute"


def test_notebooks_run_top_to_bottom():
    t0 = time.perf_counter()
    for name, cells in BUILD.NOTEBOOKS.items():
        nb = BUILD.execute(BUILD.notebook(cells), timeout=240)  # raises CellExecutionError on a failing cell
        outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
        assert not [o for o in outputs if o.output_type == "error"], name
        shown = [o.data for o in outputs if o.output_type in ("execute_result", "display_data")]
        assert any("image/png" in d for d in shown), f"{name}: no figure shown inline"
        assert any("Law assumptions" in d.get("text/markdown", "") for d in shown), f"{name}: no verdict table"
    assert time.perf_counter() - t0 < 120, "the example notebooks take too long for CI: shrink them"


def test_pilot_table_is_what_its_script_writes():
    assert (ROOT / "docs" / "examples" / "pilot_runs.csv").read_text() == example("make_pilot_table").pilot_csv()
