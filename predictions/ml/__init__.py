"""The plain-Python ETA core (no Django): features, the `ETAPredictor` model wrapper and evaluation.

- `features`: one feature definition, built offline (`build_training_features`) or online
  (`entity_states_as_of` + `build_order_features`), point-in-time.
- `model`: `ETAPredictor.train` / `from_bytes` / `predict` / `predict_frame`, and `train_best_of`.
- `evaluation`: `evaluate` -> `EvaluationReport` (overall and per-segment metrics).
"""
