"""What every solver backend hands back, so ``solve`` treats them alike."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BackendRun:
    """Routes found by a backend, before the evaluator has checked them.

    ``routes`` pairs a vehicle's position in ``Problem.vehicles`` with the positions of its jobs in
    ``Problem.jobs``, in visiting order; vehicles without jobs are left out.
    """

    routes: list[tuple[int, list[int]]]
    status: str
    seconds: float
