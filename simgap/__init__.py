"""simgap: a synthetic test bed for the capacity gap in knowledge distillation."""

__version__ = "0.1.0"
