"""A sweep's run directory: one writer at a time, and a resume that takes only what it can verify.

    DIR/.lock               flock-ed by the one sweep writing DIR; a second one is refused
    DIR/config.toml         the resolved config (a resume with another config is refused)
    DIR/units/<uid>.csv     the rows of one finished unit (compiled bucket)
    DIR/teachers/<uid>.npz  the trained teachers of a teacher unit
    DIR/units/<uid>.json    the unit's manifest, written after the files above (see `manifest`)
    DIR/results.csv         every finished unit's rows, distilled ones with their supervised
                            baseline's loss: rebuilt from the verified units when a sweep
                            starts, then appended (and fsync-ed) once per finished unit

Every file is written to a temp file and renamed, and the manifest comes last, so a kill at any
moment leaves either a complete unit or one that fails verification. A unit counts as done only
if its manifest names the current config's fingerprint of the unit (everything that changes its
rows), the sha256 and row count of its CSV (and the sha256 of its teacher file) match the files
on disk, and every teacher it was trained from is done with the very file it was trained from.
Anything else is retrained, with a line saying why: a torn or edited file, a unit trained under
another config, a deleted or damaged teacher file (its students are retrained too). Unit files
that fail verification are never read, and results.csv never holds their rows.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import hashlib
import io
import json
import os
from collections.abc import MutableMapping
from pathlib import Path

import numpy as np
import tomli_w
import tomllib

from simgap import rows as rows_lib

FORMAT = 1  # bump when the manifest or a unit's file format changes: old units are retrained


class RunDirError(RuntimeError):
    """The run directory cannot be used (locked, another config, unwritable); says why."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fingerprint(cfg, unit) -> str:
    """Hash of everything that decides a unit's rows: family and its parameters, training and
    distillation settings, student init, and the unit's members (sizes, budgets, seeds) and the
    teachers it needs. Two configs that would train a unit differently never share it."""
    data = dict(format=FORMAT, uid=unit.uid, kind=unit.kind, family=cfg.family,
                family_params=cfg.family_params, train=dataclasses.asdict(cfg.train),
                student_init=cfg.grid.student_init, members=unit.members, needs=unit.needs)
    return sha256(json.dumps(data, sort_keys=True, default=repr).encode())


class TeacherStore(MutableMapping):
    """Teacher params by TeacherKey (size, budget, seed); one .npz per teacher unit on disk."""

    def __init__(self):
        self._params: dict[tuple, dict[str, np.ndarray]] = {}

    def load(self, data: bytes) -> None:
        with np.load(io.BytesIO(data)) as npz:
            for name in npz.files:
                key_str, leaf = name.split("::", 1)
                key = tuple(int(x) for x in key_str.split("_"))
                self._params.setdefault(key, {})[leaf] = npz[name]

    def to_bytes(self, keys) -> bytes:
        arrays = {f"{'_'.join(str(int(k)) for k in key)}::{leaf}": np.asarray(v)
                  for key in keys for leaf, v in self._params[key].items()}
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        return buf.getvalue()

    def __getitem__(self, key):
        return self._params[key]

    def __setitem__(self, key, value):
        self._params[tuple(int(k) for k in key)] = {k: np.asarray(v) for k, v in value.items()}

    def __delitem__(self, key):
        del self._params[key]

    def __iter__(self):
        return iter(self._params)

    def __len__(self):
        return len(self._params)


class RunDir:
    """The run directory of one sweep (`cfg`, planned into `units`). `open` (the writing process
    only) locks it; `verify` finds the done units; `finish` records a newly trained one."""

    def __init__(self, out: Path, cfg, units):
        self.out, self.cfg, self.units = Path(out), cfg, list(units)
        self.fingerprints = {u.uid: fingerprint(cfg, u) for u in self.units}
        self.owner = {(m.size, m.budget, m.seed): u.uid for u in self.units if u.kind == "teacher" for m in u.members}
        self.rows: dict[str, list[dict]] = {}  # uid -> rows of every done unit
        self.teacher_sha: dict[str, str] = {}  # teacher uid -> sha256 of its done .npz
        self.teachers = TeacherStore()
        self._lock = None
        self._baselines_moved = False  # a supervised unit finished after distilled rows were written

    # --- opening --------------------------------------------------------------------------

    def open(self) -> None:
        """Create or reopen the directory: refuse a file, an unwritable place, a directory
        another sweep is writing, or one started with another config; remove stale temp files."""
        out = self.out
        self._lock = _acquire(out)
        with self.writing(out):
            (out / "units").mkdir(exist_ok=True)
            (out / "teachers").mkdir(exist_ok=True)
            for tmp in [*out.glob(".*.tmp*"), *out.glob("*/.*.tmp*")]:
                tmp.unlink()  # left by a killed sweep; we hold the lock, so no one else's
            self._check_config()

    def _check_config(self) -> None:
        path, resolved = self.out / "config.toml", tomli_w.dumps(self.cfg.to_dict())
        if not path.exists():
            rows_lib.atomic_write_text(path, resolved)
            return
        try:
            old = tomllib.loads(path.read_text())
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
            raise RunDirError(f"{path} is damaged ({e}); move it away to resume with this config") from None
        new = tomllib.loads(resolved)
        if old != new:
            raise RunDirError(f"{self.out} was started with a different config (differs in: "
                              f"{', '.join(_diff_keys(old, new))}); refusing to mix results. "
                              "Use a new --out, or the same config to resume.")

    def close(self) -> None:
        if self._lock is not None:
            _release(self._lock)
            self._lock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def writing(self, what: Path):
        return _Writing(self.out, what)

    # --- verifying ------------------------------------------------------------------------

    def verify(self) -> list[str]:
        """Find every verifiably done unit (its rows into `self.rows`, its teachers into
        `self.teachers`); returns one line per unit found on disk but not usable."""
        notes = []
        for unit in self.units:  # plan order: a teacher is judged before its students
            why = self._why_not_done(unit)
            if why:
                notes.append(f"unit {unit.uid}: {why}; retraining it")
        return notes

    def _why_not_done(self, unit) -> str | None:
        """None when `unit` is done (and then recorded); else why not ("" when nothing is there)."""
        uid, units, teachers = unit.uid, self.out / "units", self.out / "teachers"
        csv_path, npz_path, man_path = units / f"{uid}.csv", teachers / f"{uid}.npz", units / f"{uid}.json"
        if not man_path.exists():
            return "no manifest (unfinished, or from an older simgap)" if csv_path.exists() else ""
        try:
            man = json.loads(man_path.read_text())
        except (ValueError, UnicodeDecodeError):
            return f"{man_path.name} is damaged"
        if not (isinstance(man, dict) and isinstance(man.get("teachers", {}), dict)):
            return f"{man_path.name} is damaged (not a manifest object)"  # e.g. [] or null
        if man.get("fingerprint") != self.fingerprints[uid]:
            return "trained under another config (seeds, sizes, family or training settings differ)"
        if not csv_path.exists():
            return f"{csv_path.name} is missing"
        data = csv_path.read_bytes()
        if sha256(data) != man.get("csv_sha256"):
            return f"{csv_path.name} is damaged (torn or edited: checksum differs)"
        rows = rows_lib.parse_csv(data.decode())
        if len(rows) != len(unit.members) or man.get("rows") != len(unit.members):
            return f"{csv_path.name} has {len(rows)} rows, expected {len(unit.members)}"
        if unit.kind == "teacher":
            if not npz_path.exists():
                return f"teachers/{npz_path.name} is missing"
            npz = npz_path.read_bytes()
            if sha256(npz) != man.get("npz_sha256"):
                return f"teachers/{npz_path.name} is damaged (checksum differs)"
            self.teachers.load(npz)
            self.teacher_sha[uid] = man["npz_sha256"]
        for t_uid, sha in self._teachers_of(unit).items():
            if t_uid not in self.teacher_sha:
                return f"its teacher unit {t_uid} is retrained"
            if man.get("teachers", {}).get(t_uid) != sha:
                return f"trained from a different teachers/{t_uid}.npz"
        self.rows[uid] = rows
        return None

    def _teachers_of(self, unit) -> dict[str, str | None]:
        """Teacher unit uid -> sha256 of its .npz (None while not done), for the units it needs."""
        uids = sorted({self.owner[key] for key in unit.needs})
        return {u: self.teacher_sha.get(u) for u in uids}

    # --- writing --------------------------------------------------------------------------

    def rebuild_results(self) -> None:
        """results.csv := the rows of every verified unit, in plan order (drops anything torn)."""
        self.write_results(self.all_rows(), append=False)

    def settle(self) -> None:
        """Rebuild results.csv once if a retrained supervised unit changed baselines of distilled
        rows already written (a resume that retrained a damaged supervised unit)."""
        if self._baselines_moved:
            self.rebuild_results()
            self._baselines_moved = False

    def write_results(self, rows: list[dict], append: bool) -> None:
        """The one writer of results.csv: rebuilt atomically, or `rows` appended and fsync-ed.
        A kill during an append can leave a torn last line, which the next start rebuilds away."""
        path = self.out / "results.csv"
        baselines = [r for u in self.units if u.kind == "supervised" for r in self.rows.get(u.uid, ())]
        rows = rows_lib.with_supervised_loss(rows, baselines)
        with self.writing(path):
            if not append:
                rows_lib.atomic_write_text(path, rows_lib.to_csv(rows))
                return
            with open(path, "a") as f:
                f.write(rows_lib.to_csv(rows, header=False))
                f.flush()
                os.fsync(f.fileno())

    def finish(self, unit, rows: list[dict], new_teachers) -> None:
        """Record a trained unit: teacher file, CSV, then the manifest (what marks it done), then
        its rows appended to results.csv. Its rows are kept as read back from its CSV."""
        uid = unit.uid
        units, teachers = self.out / "units", self.out / "teachers"
        man = dict(format=FORMAT, uid=uid, fingerprint=self.fingerprints[uid], rows=len(rows))
        with self.writing(units / f"{uid}.json"):
            (units / f"{uid}.json").unlink(missing_ok=True)
        if unit.kind == "teacher":
            npz = self.teachers.to_bytes(sorted(new_teachers))
            with self.writing(teachers / f"{uid}.npz"):
                rows_lib.atomic_write_bytes(teachers / f"{uid}.npz", npz)
            man["npz_sha256"] = sha256(npz)
        text = rows_lib.to_csv(rows)
        with self.writing(units / f"{uid}.csv"):
            rows_lib.atomic_write_text(units / f"{uid}.csv", text)
        man.update(csv_sha256=sha256(text.encode()), teachers=self._teachers_of(unit))
        with self.writing(units / f"{uid}.json"):
            rows_lib.atomic_write_text(units / f"{uid}.json", json.dumps(man, indent=1))
        if unit.kind == "teacher":
            self.teacher_sha[uid] = man["npz_sha256"]
        if unit.kind == "supervised" and any(u.kind == "distilled" and u.uid in self.rows for u in self.units):
            self._baselines_moved = True
        self.rows[uid] = rows_lib.parse_csv(text)
        self.write_results(self.rows[uid], append=True)

    def all_rows(self) -> list[dict]:
        """Rows of every done unit, in plan order."""
        return [r for u in self.units if u.uid in self.rows for r in self.rows[u.uid]]


_HELD: dict[Path, list] = {}  # run directories this process has locked: [lock file, holders]


def _acquire(out: Path) -> Path:
    """Lock `out` for this process (re-entrant: an --until-decided run holds it from its first
    round to its final report, and each round's sweep takes it again); refuse a file, an
    unwritable place, or a directory another process holds. Returns the key for `_release`."""
    key = Path(out).resolve()
    if key in _HELD:
        _HELD[key][1] += 1
        return key
    if out.exists() and not out.is_dir():
        raise RunDirError(f"{out} is a file, not a run directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
        handle = open(out / ".lock", "a")
    except OSError as e:
        raise RunDirError(f"cannot write to {out}: {e.strerror or e}") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        if e.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            handle.close()
            raise RunDirError(f"another sweep is writing to {out}; wait for it to finish, "
                              "or use another --out") from None
        print(f"warning: cannot lock {out} ({e.strerror}); make sure no other sweep writes to it")
    _HELD[key] = [handle, 1]
    return key


def _release(key: Path) -> None:
    held = _HELD[key]
    held[1] -= 1
    if held[1] == 0:
        held[0].close()  # releases the flock
        del _HELD[key]


@contextlib.contextmanager
def locked(out: Path):
    """Hold `out`'s lock for the block (simgap.decide: the whole --until-decided run)."""
    key = _acquire(Path(out))
    try:
        yield
    finally:
        _release(key)


class _Writing:
    """Turns an OSError while writing (a full disk, a read-only mount) into one RunDirError line."""

    def __init__(self, out: Path, what: Path):
        self.out, self.what = out, what

    def __enter__(self):
        return self

    def __exit__(self, kind, e, tb):
        if kind is not None and issubclass(kind, OSError):
            raise RunDirError(f"writing {self.what} failed: {e.strerror or e}; finished units are kept, "
                              f"resume with --resume {self.out} once it can be written") from None
        return False


def _diff_keys(a: dict, b: dict, prefix: str = "") -> list[str]:
    out = []
    for k in sorted(set(a) | set(b)):
        if isinstance(a.get(k), dict) and isinstance(b.get(k), dict):
            out += _diff_keys(a[k], b[k], f"{prefix}{k}.")
        elif a.get(k) != b.get(k):
            out.append(f"{prefix}{k}")
    return out
