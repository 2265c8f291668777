"""The plain-Python core: no Django, no app imports; every app sits above it.

- `delivery`: the delivery-history file schema and row normaliser, data-quality scoring, the synthetic generator.
- `features`: one feature definition, built offline (`build_training_features`) or online
  (`entity_states_as_of` + `build_order_features`), point-in-time.
- `model`: `ETAPredictor.train` / `from_bytes` / `predict` / `predict_frame`, and `train_best_of`.
- `evaluation`: `evaluate` -> `EvaluationReport` (overall and per-segment metrics).
- `stats`: drift statistics, multiple testing, CUSUM, the shadow A/B comparison and the post-promotion watch rule.
- `solver`: the vehicle-routing problem, its solvers and the plan evaluator.
"""

import os

# XGBoost's OpenMP threads wait for each other at every tree level, and by default a waiting thread spins,
# taking the core the other thread needs whenever the host has more runnable threads than cores. Measured
# on this shared 2-core host (40 rounds on 60,000 rows): one thread 13.5 s wall; two threads 131 s wall and
# 23 times the CPU; two threads waiting passively 3.9 s wall, the same CPU as one, and the same model bytes.
# libgomp reads this when XGBoost loads, so it is set here, before any core module imports XGBoost.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
