"""Plan a distillation run from fitted laws: link them, allocate compute, design the next pilot."""
