"""The plain-Python core: no Django, no app imports; every app sits above it.

- `delivery`: the delivery-history file schema and row normaliser, data-quality scoring, the synthetic generator.
- `features`: one feature definition, built offline (`build_training_features`) or online
  (`entity_states_as_of` + `build_order_features`), point-in-time.
- `model`: `ETAPredictor.train` / `from_bytes` / `predict` / `predict_frame`, and `train_best_of`.
- `evaluation`: `evaluate` -> `EvaluationReport` (overall and per-segment metrics).
- `stats`: drift statistics, multiple testing, CUSUM, the shadow A/B comparison and the post-promotion watch rule.
- `solver`: the vehicle-routing problem, its solvers and the plan evaluator.
"""
