import copy

import pytest
import tomli_w

from simgap.config import ConfigError, load_config, parse_config, shipped_configs
from simgap.families import from_config

BASE = {
    "name": "t",
    "family": "kernel",
    "grid": {"student_sizes": [10, 20], "teacher_sizes": [5, 10, 40], "seeds": 2},
}


def with_change(path: tuple, value):
    raw = copy.deepcopy(BASE)
    d = raw
    for k in path[:-1]:
        d = d.setdefault(k, {})
    if value is None:
        d.pop(path[-1])
    else:
        d[path[-1]] = value
    return raw


@pytest.mark.parametrize("path", shipped_configs(), ids=lambda p: p.name)
def test_every_shipped_config_loads(path):
    cfg = load_config(path)
    from_config(cfg)  # its family builds and can run its student_init
    assert cfg.grid.student_sizes and cfg.grid.teacher_sizes and cfg.grid.seeds
    # the resolved config round-trips: what a run directory stores parses to the same config
    again = parse_config(cfg.to_dict(), source="roundtrip")
    assert again == cfg


def test_shipped_configs_include_default_and_each_family():
    names = {p.stem for p in shipped_configs()}
    assert "default" in names
    families = {load_config(p).family for p in shipped_configs()}
    assert {"kernel", "mlp"} <= families


def test_seeds_override_and_defaults():
    cfg = parse_config(BASE, seeds=5)
    assert cfg.grid.seeds == (0, 1, 2, 3, 4)
    assert cfg.grid.student_init == "random" and cfg.train.lam == 1.0 and cfg.train.tau == 1.0


@pytest.mark.parametrize(
    "path, value, words",
    [
        (("grid", "student_sizes"), [], "[grid].student_sizes"),
        (("grid", "student_sizes"), [10, -3], "positive integers"),
        (("grid", "teacher_sizes"), [5, 5], "duplicates"),
        (("grid", "teacher_sizes"), "big", "[grid].teacher_sizes"),
        (("grid", "seeds"), 0, "[grid].seeds"),
        (("grid", "seeds"), True, "[grid].seeds"),
        (("grid", "colour"), 1, "unknown key"),
        (("grid", "student_init"), "magic", "student_init"),
        (("train", "learning_rate"), -1.0, "[train].learning_rate"),
        (("train", "batch_size"), 1.5, "[train].batch_size"),
        (("distill", "lam"), 1.5, "[distill].lam"),
        (("fit", "ci"), 90, "[fit].ci"),
        (("fit", "fixed_supervised"), {"c0": 1.0}, "[fit].fixed_supervised"),
        (("fit", "fixed_distillation"), {"E": "irreducible"}, "[fit].fixed_distillation"),
        (("grid",), None, "grid: missing"),
        (("colour",), "red", "colour: unknown key"),
        (("family",), "quantum", "family"),
    ],
)
def test_bad_config_names_key(path, value, words):
    with pytest.raises(ConfigError) as e:  # parsed as data, then its family built from it
        from_config(parse_config(with_change(path, value), source="bad.toml"))
    msg = str(e.value)
    assert msg.startswith("bad.toml: ") and words in msg


def test_pruned_student_larger_than_teachers_is_refused():
    raw = with_change(("grid", "student_init"), "pruned_from_largest")
    raw["family"] = "mlp"
    raw["grid"]["student_sizes"] = [10, 80]
    with pytest.raises(ConfigError, match="bad.toml: .grid..student_init: .*larger than the largest teacher"):
        from_config(parse_config(raw, source="bad.toml"))


def test_unknown_family_param_is_named():
    raw = with_change(("family_params", "wibble"), 3)
    cfg = parse_config(raw, source="bad.toml")  # config is data: the family is not built here
    with pytest.raises(ConfigError, match=r"bad.toml: \[family_params\].*wibble"):
        from_config(cfg)


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="no such config"):
        load_config(tmp_path / "nope.toml")
    bad = tmp_path / "broken.toml"
    bad.write_text("grid = [")
    with pytest.raises(ConfigError, match="broken.toml: not valid TOML"):
        load_config(bad)
    good = tmp_path / "ok.toml"
    good.write_text(tomli_w.dumps(BASE))
    assert load_config(good).name == "t"


def test_fixed_law_parameters_load_and_round_trip():
    raw = with_change(("fit", "fixed_supervised"), {"E": "irreducible", "gamma": 1.0})
    cfg = parse_config(raw)
    assert cfg.fit.fixed_supervised == (("E", "irreducible"), ("gamma", 1.0))
    assert parse_config(cfg.to_dict()).fit == cfg.fit


def test_teacher_params_ratio_pairs_each_student_with_its_window_only():
    """[grid].teacher_params_ratio: a pair runs iff the teacher has lo-hi x the student's parameters
    (and, under pruned_from_teacher, is larger); it round-trips through config.toml."""
    from simgap import engine

    raw = {"family": "mlp", "grid": {"student_sizes": [8, 16], "teacher_sizes": [12, 16, 24, 32, 64],
                                     "teacher_params_ratio": [1.5, 4.0], "seeds": 1}}
    cfg = parse_config(raw)
    family = from_config(cfg)
    assert cfg.grid.teacher_params_ratio == (1.5, 4.0)
    pairs = {(m.size, m.teacher_size) for u in engine.plan(family, cfg.grid, cfg.train) if u.kind == "distilled"
             for m in u.members}
    ratio = {(n, t): family.param_count(t) / family.param_count(n) for n in (8, 16) for t in cfg.grid.teacher_sizes}
    assert pairs == {k for k, r in ratio.items() if 1.5 <= r <= 4.0}
    assert pairs and pairs != set(ratio)  # the window both keeps and drops pairs on this grid
    assert parse_config(cfg.to_dict()).grid == cfg.grid
    no_window = {k: v for k, v in raw["grid"].items() if k != "teacher_params_ratio"}
    assert "teacher_params_ratio" not in parse_config({"family": "mlp", "grid": no_window}).to_dict()["grid"]


@pytest.mark.parametrize("value", [[2.0, 1.0], [0, 3], [1.5], "wide"])
def test_bad_teacher_params_ratio_is_named(value):
    with pytest.raises(ConfigError, match=r"bad.toml: \[grid\].teacher_params_ratio: expected \[lo, hi\]"):
        parse_config(with_change(("grid", "teacher_params_ratio"), value), source="bad.toml")


def test_teacher_params_ratio_leaving_a_student_alone_is_refused():
    raw = {"family": "mlp", "grid": {"student_sizes": [8, 64], "teacher_sizes": [12, 16],
                                     "teacher_params_ratio": [1.5, 4.0], "seeds": 1}}
    with pytest.raises(ConfigError, match=r"bad.toml: \[grid\].teacher_params_ratio = \[1.5, 4\]: student sizes \[64\]"):
        from_config(parse_config(raw, source="bad.toml"))
