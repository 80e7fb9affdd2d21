"""`meshvid eval`: MPJPE, PA-MPJPE, PVE, MPJVE, MPJAE on the held-out synthetic sequences or a
real set's test protocol, with per-sequence / per-group tables and plots (docs/training.md)."""

from meshvid.eval.evaluate import EvalResult, Method, evaluate, methods_for

__all__ = ["EvalResult", "Method", "evaluate", "methods_for"]
