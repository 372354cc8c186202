"""Serving layer: the BentoML heatmap service and the `sector-heatmap` command line."""
