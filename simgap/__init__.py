"""simgap: a synthetic test bed for the capacity gap in knowledge distillation.

The Python API (simgap.api; docs/api.md), loaded on first use so that `import simgap` stays cheap:

    import simgap
    f = simgap.fit("docs/examples/pilot_runs.csv", bootstrap=20)   # the laws and their verdicts
    p = simgap.plan(f, student=1e9, compute=1e22)                  # which teacher, distil or not
    run = simgap.sweep("default")                                  # train, analyse: a Run
    run = simgap.load(run.path)                                    # read a run back

`simgap.fit`, `simgap.plan` and `simgap.sweep` are also modules (the fitting and planning packages,
the sweep's command line); Python binds one object to each name, so each of these modules is made
callable here: calling it calls the API function of the same name.
"""

import importlib
import sys
import types

__version__ = "0.1.0"
__all__ = ["Plan", "Run", "TableFit", "fit", "load", "plan", "sweep"]
CALLABLE_MODULES = ("fit", "plan", "sweep")  # submodules whose name is also an API function


class _CallableModule(types.ModuleType):
    """A submodule that, called, runs the API function of its name (simgap.fit(...) is simgap.api.fit(...))."""

    def __call__(self, *args, **kwargs):
        from simgap import api  # lazy: `import simgap` must not load the API's numpy, scipy and matplotlib

        return getattr(api, self.__name__.rpartition(".")[2])(*args, **kwargs)


class _Package(types.ModuleType):
    """simgap itself: the import system binds each loaded submodule here, and the ones that share an
    API function's name are made callable as they are bound, however they were imported."""

    def __setattr__(self, name, value):
        if name in CALLABLE_MODULES and type(value) is types.ModuleType:
            value.__class__ = _CallableModule
        super().__setattr__(name, value)


def __getattr__(name: str):
    """The API's names, loaded when first asked for (PEP 562)."""
    if name in CALLABLE_MODULES:
        return importlib.import_module(f"simgap.{name}")  # bound (and made callable) by _Package
    if name in __all__:
        from simgap import api  # lazy: as in _CallableModule.__call__

        return getattr(api, name)
    raise AttributeError(f"module 'simgap' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))


sys.modules[__name__].__class__ = _Package
