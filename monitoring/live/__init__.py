"""Checks on live traffic: drift, realized accuracy and data quality, and the retraining they trigger.

The monitoring app's services for issue 5's "drift and data quality on live traffic", one small module each
(`services.py` holds the alert outbox they all report through):

    reference.drift_reference_get_or_build(version=)     the training-side sample and validation errors by
                                                          hour, built once per version
    drift.drift_check_run(tenant=, version=, window_end=)             -> DriftReport
    accuracy.realized_accuracy_check(tenant=, version=, window_end=)  -> AccuracyReport
    quality.live_data_quality_check(tenant=, window_end=)             -> LiveQuality
    retraining.retraining_request(tenant=, alert=)                    -> RetrainingTrigger
    checks.monitoring_checks_run(tenant=, now=)   all of the above for the champion (and challenger)

Plain Python (no Django), unit-tested on arrays: `sampling` (tested features, reference JSON, time-of-day
matching) and `accuracy_rules` (baselines at the same hours, tolerance and significance, and the CUSUM of the
outcome stream overall and per segment).
"""
