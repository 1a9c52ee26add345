"""A content-addressed cache of analysis results in a run directory: a round refits only what changed.

`Memo(directory)(name, fn, *args)` is `fn(*args)`, read back from `DIR/<name>-<key>.pkl` when the
key — a hash of simgap's source code, the name and the pickled arguments (exactly the rows and
options the fit consumes) — was computed before. So simgap.decide's round that adds distilled runs
reuses the supervised law's fit and bootstrap, and a resumed analysis of unchanged rows reuses
everything. Nothing here can change a result, only skip recomputing it: a miss, a file that fails
its checksum or cannot be unpickled is recomputed and rewritten, arguments that cannot be pickled
are computed uncached, and a change to any simgap source file invalidates every entry. `prune()`
deletes the entries this analysis did not use, so the cache holds one analysis. The entries are
pickles: like the rest of a run directory, use only a directory you made.
"""

from __future__ import annotations

import functools
import hashlib
import io
import pickle
from collections.abc import Callable
from pathlib import Path

from simgap import rows as rows_lib

FORMAT = b"simgap-memo 1"


@functools.cache
def code_version() -> str:
    """sha256 over every simgap source file: a fit computed by other code is never reused."""
    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


class _KeyPickler(pickle.Pickler):
    """Pickles a call's arguments for its key, writing a result of an earlier call as that call's key."""

    def __init__(self, file, made: dict):
        super().__init__(file, protocol=5)
        self.made = made

    def persistent_id(self, obj):
        found = self.made.get(id(obj))
        return found[1] if found is not None and found[0] is obj else None


class Memo:
    """fn(*args) cached under `directory` by the hash of (code, name, args); see the module docstring."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.used: set[str] = set()
        self.made: dict[int, tuple] = {}  # id(result) -> (result, key) of every result returned
        self.hits = self.misses = 0

    def key(self, name: str, args: tuple) -> str | None:
        """The hash of (code, name, args); an argument that an earlier call returned is hashed as
        that call's key (its provenance), as a result read back pickles differently from the
        result first computed. None when the arguments cannot be pickled."""
        buf = io.BytesIO()
        try:
            _KeyPickler(buf, self.made).dump(args)
        except (pickle.PicklingError, TypeError, AttributeError):
            return None
        return hashlib.sha256(code_version().encode() + name.encode() + b"\0" + buf.getvalue()).hexdigest()[:40]

    def __call__(self, name: str, fn: Callable, *args):
        key = self.key(name, args)
        if key is None:
            return fn(*args)
        path = self.directory / f"{name}-{key}.pkl"
        self.used.add(path.name)
        found = self._load(path)
        if found is not None:
            self.hits += 1
            self.made[id(found[0])] = (found[0], key)
            return found[0]
        self.misses += 1
        result = fn(*args)
        self.made[id(result)] = (result, key)
        try:
            payload = pickle.dumps(result, protocol=5)
            self.directory.mkdir(parents=True, exist_ok=True)
            rows_lib.atomic_write_bytes(path, FORMAT + b"\n" + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload)
        except (OSError, pickle.PicklingError, TypeError, AttributeError):
            pass  # an entry that cannot be written only costs the next analysis its refit
        return result

    @staticmethod
    def _load(path: Path) -> tuple | None:
        """(result,) from an intact entry; None when it is missing, torn or damaged."""
        try:
            head, digest, payload = path.read_bytes().split(b"\n", 2)
            if head != FORMAT or hashlib.sha256(payload).hexdigest().encode() != digest:
                return None
            return (pickle.loads(payload),)
        except Exception:  # noqa: BLE001 - any unreadable entry is a miss, never an error
            return None

    def prune(self) -> None:
        """Delete the entries this analysis did not use (those of rows since changed)."""
        if not self.directory.is_dir():
            return
        for path in self.directory.glob("*.pkl"):
            if path.name not in self.used:
                path.unlink(missing_ok=True)
