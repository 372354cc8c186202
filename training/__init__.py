"""Training layer: labels, purged walk-forward, models, honest out-of-sample metrics, MLflow.

Builds on `features`; nothing here is imported by `features`.
"""
