"""The bootstrap's replicates are fitted in worker processes: same results as one process, and
safe from a script without a __main__ guard (workers never re-run the caller's script)."""

import subprocess
import sys
import textwrap

import numpy as np

from simgap import fit, laws

SUP, DIST = laws.BUSBRIDGE_SUPERVISED, laws.BUSBRIDGE_DISTILL


def _fits():
    rng = np.random.default_rng(0)
    N = np.repeat(np.geomspace(1e8, 1e9, 4), 3)
    D = np.tile([1e9, 4e9, 1.6e10], 4)
    sup = fit.fit_supervised(N, D, laws.supervised_loss(N, D, SUP) * np.exp(rng.normal(0, 1e-3, N.size)),
                             n_top=3, n_random=0)
    Ns = np.repeat([1e8, 3e8, 1e9], 8)
    LT = np.tile(np.geomspace(1.8, 4, 8), 3)
    LS = laws.distill_loss(Ns, 20 * Ns, LT, SUP, DIST) * np.exp(rng.normal(0, 1e-3, Ns.size))
    return sup, fit.fit_distillation(Ns, 20 * Ns, LT, LS, sup.require(), n_top=2, n_random=0)


def test_parallel_bootstrap_equals_one_process():
    sup, dist = _fits()
    derived = {"ratio": lambda p, law: p.d1 * law.supervised.E}  # a closure: evaluated in the caller, never pickled
    kw = dict(n_boot=20, seed=3, supervised_fit=sup, derived=derived)
    one, two = fit.bootstrap(dist, workers=1, **kw), fit.bootstrap(dist, workers=2, **kw)
    assert one.n_failed == two.n_failed
    assert one.samples.keys() == two.samples.keys() and len(one.samples["ratio"]) == 20 - one.n_failed
    for k in one.samples:
        assert one.samples[k] == two.samples[k], k  # bitwise: the same refits, in the same order


def test_workers_do_not_rerun_an_unguarded_script(tmp_path):
    script = tmp_path / "pilot.py"
    script.write_text(textwrap.dedent("""
        import numpy as np
        from simgap import fit, laws
        print("top level ran", flush=True)
        N = np.repeat(np.geomspace(1e8, 1e9, 4), 3)
        D = np.tile([1e9, 4e9, 1.6e10], 4)
        f = fit.fit_supervised(N, D, laws.supervised_loss(N, D, laws.BUSBRIDGE_SUPERVISED), n_top=2, n_random=0)
        b = fit.bootstrap(f, n_boot=16, workers=2)
        print("replicates", len(b.samples["E"]) + b.n_failed)
    """))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.count("top level ran") == 1
    assert "replicates 16" in out.stdout
