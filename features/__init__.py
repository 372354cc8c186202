"""Feature layer: market data in, one (date, sector) feature table out.

Nothing here imports MLflow or BentoML; training and serving build on top of it.
"""
