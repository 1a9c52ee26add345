import jax
import jax.numpy as jnp
import numpy as np
import pytest

from simgap import engine, feed, flops, rows
from simgap.config import Grid, TrainSpec
from simgap.families import from_config, get_family
from simgap.families.base import next_half_pow2, next_pow2, pad, unpad
from simgap.families.mlp import all_inputs

MLP = get_family("mlp", classes=4)
FAST = TrainSpec(learning_rate=3e-3, batch_size=64)
STEPS = 40


def bucket(kind, sizes, seeds, padded, tsizes=None, teacher=None, budget=STEPS * 64, **hyper):
    """A bucket program and its inputs as simgap.feed makes them, for hand-picked members;
    `hyper`: per-member overrides of Inputs fields (e.g. lr=[3e-3, inf])."""
    tsizes = tsizes or [None] * len(sizes)
    members = [engine.Member(n, t, budget, None if t is None else budget, s) for n, t, s in zip(sizes, tsizes, seeds)]
    spec = engine.Spec(MLP, kind, padded, 0 if teacher is None else max(MLP.bucket_size(t) for t in tsizes),
                       budget, FAST.batch_size)
    inputs, batches = feed.inputs(spec, members, FAST, teacher=teacher)
    inputs = inputs._replace(**{k: np.broadcast_to(np.asarray(v, np.float32), len(sizes)) for k, v in hyper.items()})
    return spec, inputs, batches


def run(spec, inputs, batches):
    return jax.tree.map(np.asarray, engine.run_bucket(spec, inputs, batches))


def train(sizes, seeds, padded, lr=3e-3):
    return run(*bucket("supervised", sizes, seeds, padded, lr=lr))


def member(tree, i):
    return jax.tree.map(lambda a: a[i], tree)


def test_vmapped_member_equals_run_alone_and_padded_equals_unpadded():
    # >= 4 members on purpose: XLA CPU once mixed up member 3 under jit(vmap) (see sources.py)
    sizes, seeds = [8, 5, 8, 3, 8, 6], [0, 1, 1, 2, 3, 0]
    params, metrics = train(sizes, seeds, padded=8)
    for i, (size, seed) in enumerate(zip(sizes, seeds)):
        alone_p, alone_m = member(train([size], [seed], padded=8), 0)
        for k in ("loss", "accuracy"):
            np.testing.assert_allclose(metrics[k][i], alone_m[k], atol=1e-5)
        for k in params:
            np.testing.assert_allclose(params[k][i], alone_p[k], atol=1e-5)
    # width 5 padded to 8 above vs width 5 unpadded (its own bucket size 5)
    (p5, m5), padded_p = member(train([5], [1], padded=5), 0), member(params, 1)
    np.testing.assert_allclose(metrics["loss"][1], m5["loss"], atol=1e-5)
    for k, v in unpad(padded_p, MLP.param_shapes(5)).items():
        np.testing.assert_allclose(v, p5[k], atol=1e-5)
        assert not np.any(padded_p[k][tuple(slice(s, None) for s in v.shape)])  # padding stays 0


def test_vmapped_distilled_member_equals_run_alone():
    sizes, tsizes, seeds = [4, 3, 4, 4, 2], [8, 5, 6, 8, 7], [0, 0, 1, 2, 3]
    teachers = [MLP.init(jax.random.key(100 + i), t, 8) for i, t in enumerate(tsizes)]

    def distill(idx):
        stacked = {k: np.stack([teachers[i][k] for i in idx]) for k in teachers[0]}
        return run(*bucket("distilled", [sizes[i] for i in idx], [seeds[i] for i in idx], 4,
                           tsizes=[tsizes[i] for i in idx], teacher=stacked))

    _, together = distill(range(5))
    for i in range(5):
        _, alone = distill([i])
        for k in ("loss", "kl_to_teacher", "teacher_loss", "accuracy"):
            np.testing.assert_allclose(together[k][i], alone[k][0], atol=1e-5, err_msg=f"{k} member {i}")
    assert len(set(together["kl_to_teacher"].tolist())) == 5


def test_diverged_member_is_flagged_and_does_not_poison_others():
    _, metrics = train([8, 8], [0, 1], padded=8, lr=np.array([3e-3, np.inf]))
    assert list(metrics["diverged"]) == [False, True]
    _, ref = train([8, 8], [0, 0], padded=8)
    np.testing.assert_allclose(metrics["loss"][0], ref["loss"][0], atol=1e-6)


def test_exploding_but_finite_runs_are_diverged_in_every_role():
    # lr = 1e9: every loss stays finite (teacher ~1e9, students up to ~1e29) yet nothing is learned
    grid = Grid(student_sizes=(4,), teacher_sizes=(8,), student_budgets=(20 * 64,),
                       teacher_budgets=(20 * 64,), seeds=(0,))
    out = engine.run_grid(MLP, grid, TrainSpec(learning_rate=1e9, batch_size=64))
    assert [r["run_kind"] for r in out] == ["teacher", "supervised", "distilled"]
    assert all(np.isfinite(r["teacher_loss"] if r["run_kind"] == "teacher" else r["student_loss"]) for r in out)
    assert [r["diverged"] for r in out] == [True, True, True]


def test_student_of_a_diverged_teacher_is_diverged_however_well_it_trains():
    good = {k: v[0] for k, v in train([8], [0], padded=8)[0].items()}
    exploded = {k: 30.0 * v for k, v in good.items()}  # logits x 30^3: a finite, useless teacher
    teacher = {k: np.stack([good[k], exploded[k]]) for k in good}
    _, metrics = run(*bucket("distilled", [4, 4], [0, 0], 4, tsizes=[8, 8], teacher=teacher, lam=0.0))  # labels only
    assert metrics["loss"][0] == metrics["loss"][1] < np.log(4)  # the same student either way
    assert metrics["teacher_loss"][1] > 1e3 and list(metrics["diverged"]) == [False, True]


def test_divergence_ceiling_is_the_untrained_or_trivial_loss_whichever_is_larger():
    kernel = get_family("kernel", coefficients=10)
    task = kernel.make_task(jax.random.key(0))
    trivial = float(np.sum(np.asarray(task["alpha"]) ** 2))
    assert float(engine.ceiling(kernel, task, None, 10)) == pytest.approx(trivial)
    for loss, ok in ((0.9 * trivial, True), (1.01 * trivial, True), (1.1 * trivial, False), (np.inf, False), (np.nan, False)):
        assert bool(engine.learned(jnp.float32(loss), trivial)) is ok
    hot = {k: 10.0 * v for k, v in MLP.init(jax.random.key(0), 8, 8).items()}  # untrained, worse than uniform
    start = float(MLP.evaluate({}, hot, 8, None, None)["loss"])
    assert start > np.log(4) and float(engine.ceiling(MLP, {}, hot, 8)) == start
    assert float(engine.ceiling(MLP, {}, {k: 0 * v for k, v in hot.items()}, 8)) == pytest.approx(np.log(4))


def test_plan_compiles_once_per_unit_and_is_deterministic():
    grid = Grid(student_sizes=(7, 8), teacher_sizes=(13, 16), student_budgets=(30 * 64,),
                       teacher_budgets=(30 * 64,), seeds=(0, 1))
    units = engine.plan(MLP, grid, FAST)
    # sizes 7 and 8 share the bucket of width 8, teachers 13 and 16 that of width 16: 3 units
    assert [u.uid for u in units] == ["teacher-w16-b1920", "supervised-w8-b1920", "distilled-s8-t16-b1920-random"]
    assert len(units[2].members) == 2 * 2 * 2 and units[2].needs == ((13, 1920, 0), (13, 1920, 1), (16, 1920, 0), (16, 1920, 1))
    before = engine.compile_count()
    first = engine.run_grid(MLP, grid, FAST)
    assert engine.compile_count() - before == len(units)
    second = engine.run_grid(MLP, grid, FAST)
    assert engine.compile_count() - before == len(units)
    strip = lambda rs: [{k: v for k, v in r.items() if k != "wall_s"} for r in rs]
    assert strip(first) == strip(second)
    assert len(first) == 4 + 4 + 8
    for r in first:
        assert set(r) == set(rows.COLUMNS) and r["family"] == "mlp" and not r["diverged"]
        assert r["flops"] > 0 and r["wall_s"] > 0
    d = next(r for r in first if r["run_kind"] == "distilled" and r["teacher_size"] == 13)
    t = next(r for r in first if r["run_kind"] == "teacher" and r["teacher_size"] == 13 and r["seed"] == d["seed"])
    assert d["teacher_loss"] == pytest.approx(t["teacher_loss"], abs=1e-5)
    assert d["student_init"] == "random" and d["lam"] == 1.0 and d["kl_to_teacher"] >= 0


def test_teacher_store_is_flat_numpy_with_true_shapes_and_missing_teacher_is_a_clear_error(tmp_path):
    grid = Grid(student_sizes=(4,), teacher_sizes=(6,), student_budgets=(20 * 64,),
                       teacher_budgets=(20 * 64,), seeds=(0,), supervised=False)
    teacher_unit, distilled_unit = engine.plan(MLP, grid, FAST)
    with pytest.raises(KeyError, match="teacher"):
        engine.run_unit(MLP, distilled_unit, grid, FAST, {})
    store = {}
    engine.run_unit(MLP, teacher_unit, grid, FAST, store)
    assert list(store) == [(6, 1280, 0)] and distilled_unit.needs == ((6, 1280, 0),)
    assert {k: v.shape for k, v in store[(6, 1280, 0)].items()} == MLP.param_shapes(6)
    np.savez(tmp_path / "t.npz", **store[(6, 1280, 0)])
    reloaded = {(6, 1280, 0): dict(np.load(tmp_path / "t.npz"))}
    a = engine.run_unit(MLP, distilled_unit, grid, FAST, store)
    b = engine.run_unit(MLP, distilled_unit, grid, FAST, reloaded)
    assert a[0]["student_loss"] == b[0]["student_loss"]


def test_pruned_init_needs_the_largest_teacher_and_bad_family_params():
    grid = Grid((4,), (8,), (64,), (64,), (0,), student_init="pruned_from_largest")
    assert all((8, 64, 0) in u.needs for u in engine.plan(MLP, grid, FAST) if u.kind != "teacher")
    with pytest.raises(ValueError, match="largest teacher"):
        engine.plan(MLP, Grid((16,), (8,), (64,), (64,), (0,), student_init="pruned_from_largest"), FAST)
    with pytest.raises(ValueError, match="nope"):
        get_family("nope")
    with pytest.raises(ValueError, match="width"):
        get_family("mlp", width=3)
    with pytest.raises(ValueError, match="classes"):
        get_family("mlp", classes=1)


def test_pad_helpers_round_trip():
    assert [next_pow2(n) for n in (1, 2, 3, 8, 9, 362)] == [1, 2, 4, 8, 16, 512]
    sizes = range(1, 700)
    assert [next_half_pow2(n) for n in (1, 2, 3, 5, 6, 7, 9, 12, 13, 17, 24, 25, 96, 97, 362)] == \
        [1, 2, 3, 6, 6, 8, 12, 12, 16, 24, 24, 32, 96, 128, 384]
    assert all(n <= next_half_pow2(n) < 1.5 * n or n <= 2 for n in sizes)
    p = {"w": np.arange(6.0).reshape(2, 3)}
    padded = pad(p, {"w": (4, 4)})
    assert padded["w"].shape == (4, 4) and padded["w"].sum() == 15
    np.testing.assert_array_equal(unpad(padded, {"w": (2, 3)})["w"], p["w"])


def test_estimate_flops_counts_padded_work():
    grid = Grid((3,), (5,), (640,), (640,), (0, 1), supervised=False)
    t_unit, d_unit = engine.plan(MLP, grid, FAST)
    assert MLP.bucket_size(5) == 6 and MLP.bucket_size(3) == 3
    assert flops.estimate_flops(MLP, t_unit, grid, FAST) == 2 * MLP.train_flops(6, 640)
    # the distilled bucket reads a teacher table: one teacher forward over every input per member
    n_inputs = len(all_inputs(MLP.classes)[1])
    assert flops.estimate_flops(MLP, d_unit, grid, FAST) == 2 * (MLP.train_flops(3, 640) + MLP.forward_flops(6, n_inputs))


@pytest.mark.parametrize("name", ["mlp", "mlp_paper", "kernel"])
def test_shipped_configs_load_and_plan(name):
    from simgap.config import CONFIG_DIR, load_config

    cfg = load_config(CONFIG_DIR / f"{name}.toml")
    family = from_config(cfg)
    units = engine.plan(family, cfg.grid, cfg.train)
    assert units[0].kind == "teacher" and all(flops.estimate_flops(family, u, cfg.grid, cfg.train) > 0 for u in units)


def test_members_run_in_turn_only_where_the_family_asks_on_cpu():
    """engine.sequential_members: the transformer (cpu_sequential_members) on a CPU backend,
    never the MLP; the choice is part of the bucket's static Spec."""
    from tests.test_transformer import small_family

    tf = small_family()
    grid = Grid(student_sizes=(), teacher_sizes=(8,), student_budgets=(), teacher_budgets=(12 * 32,), seeds=(0,),
                supervised=False)
    on_cpu = jax.default_backend() == "cpu"
    assert engine.spec_of(tf, engine.plan(tf, grid, FAST)[0], FAST).sequential is on_cpu
    mlp_grid = Grid(student_sizes=(), teacher_sizes=(8,), student_budgets=(), teacher_budgets=(64,), seeds=(0,),
                    supervised=False)
    assert engine.spec_of(MLP, engine.plan(MLP, mlp_grid, FAST)[0], FAST).sequential is False
