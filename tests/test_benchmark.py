"""Smoke test of experiments/benchmark.py on a tiny grid: every section runs, figures are
sane, and the engine and the per-model JAX loop agree; PyTorch's agreement is its own test,
skipped (not passed) when torch is not installed."""

import json

import experiment_scripts
import pytest



@pytest.fixture(scope="module")
def bench():
    return experiment_scripts.load("benchmark")


TINY = dict(widths=(7, 8), seeds=2, steps=8, big_widths=(16,), big_seeds=1, big_steps=3,
            cells=(1, 2), cells_width=8, cells_steps=3, peak_n=256, classes=4, e2e="", transformer=None)


def test_tiny_benchmark_runs_and_engine_matches_loop(bench):
    lines = []
    out = bench.run(bench.Sizes(**TINY), use_torch=False, echo=lines.append)
    text = "\n".join(lines)
    for needle in ("matmul peak", "engine", "JAX loop", "PyTorch        skipped (--no-torch)", "speed-up", "fit: run"):
        assert needle in text
    assert out["peak_gflops"] > 0 and out["torch"] is None
    eng = out["engine"]
    assert eng["models"] == 4 and eng["bucket_compiles"] == 1 and eng["useful_flops"] > 0  # 7, 8 share w8
    assert eng["run_s"] > 0 and eng["compile_s"] > 0 and 0 < eng["fraction_of_peak"]
    assert out["agreement"]["engine_vs_jax_loop"]["compared"] == 4
    assert out["agreement"]["engine_vs_jax_loop"]["max_abs_diff"] < 1e-4
    assert [p["cells"] for p in out["scaling"]["points"]] == [1, 2]
    json.dumps(out, default=float)  # everything serialises


def test_preset_is_read_from_the_mlp_config(bench):
    from simgap.config import CONFIG_DIR, load_config

    cfg = load_config(CONFIG_DIR / "mlp.toml")
    sizes = bench.Sizes()
    assert sizes.widths == tuple(cfg.grid.teacher_sizes) and sizes.seeds == len(cfg.grid.seeds)
    assert sizes.classes == cfg.family_params["classes"] and bench.PRESET.train == cfg.train


def test_pytorch_trains_the_same_models(bench):
    torch = pytest.importorskip("torch")
    out = bench.run(bench.Sizes(**TINY), use_torch=True, echo=lambda _: None)
    assert out["torch"]["models"] == 4 and out["torch"]["version"] == torch.__version__
    assert out["agreement"]["engine_vs_torch"]["compared"] == 4
    assert out["agreement"]["engine_vs_torch"]["max_abs_diff"] < 1e-3


@pytest.mark.slow  # 7 transformer compiles (~40 s); the tiny benchmark test keeps the command in CI
def test_transformer_section_compares_members_in_turn_vmapped_and_the_loop(bench):
    import bench_transformer

    lines = []
    z = bench_transformer.TransformerSizes(widths=(8,), seeds=2, steps=3, student=8)
    out = bench.run(bench.Sizes(**{**TINY, "transformer": z}), echo=lines.append, transformer_only=True)
    t = out["transformer"]
    assert [r["uid"].split("-")[0] for r in t["buckets"]] == ["teacher", "distilled"]
    assert t["processes_fraction_of_peak"] > 0 and t["vmapped_run_s"] > 0 and t["speedup_vs_loop"] > 0
    assert t["vmapped_max_loss_diff"] < 1e-4 and t["in_turn_max_loss_diff"] < 1e-4 and t["loop_max_loss_diff"] < 1e-4
    assert any(line.startswith("7. transformer") for line in lines)
    json.dumps(out, default=float)


@pytest.mark.slow  # two real sweeps, cold then warm (40-100 s); the tiny benchmark test keeps the command in CI
def test_end_to_end_section_splits_a_real_sweep_cold_and_warm(bench):
    """The tiny sweep twice through `python -m simgap.sweep`: cold compiles every bucket, warm
    loads every XLA program from the compile cache; the split adds up to the wall time."""
    lines = []
    out = bench.run(bench.Sizes(**{**TINY, "e2e": "tiny"}), echo=lines.append, e2e_only=True)
    assert "engine" not in out and any(line.startswith("6. end to end") for line in lines)
    cold, warm = out["end_to_end"]["this"]["cold"], out["end_to_end"]["this"]["warm"]
    for r in (cold, warm):
        assert r["runs"] == 2 * 3 + 2 * 2 + 2 * 2 * 3 and r["compiles"] == 2 + 1 + 1  # one distilled bucket per student width
        assert r["wall_s"] == pytest.approx(r["compile_s"] + r["train_s"] + r["rest_s"])
        assert r["analysis_s"] > 0 and r["useful_flops"] > 0 and 0 < r["fraction_of_peak"] < 1
    # cold: a fresh cache (a program that two call sites lower identically hits it the second time)
    assert cold["from_cache"] <= 2 < cold["xla_programs"]
    assert warm["from_cache"] == warm["xla_programs"] and warm["compile_s"] < cold["compile_s"]
    json.dumps(out, default=float)
