"""Metric functions, the GT/REC scorer and the results writer."""
