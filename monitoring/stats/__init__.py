"""Drift and A/B statistics of the monitoring app, in plain Python (numpy, scipy, pandas; no Django).

The monitoring services call these and store the results' `as_dict()`; nothing here reads or writes the
database, so every statistic is unit-tested on arrays alone.
"""
