"""Metric files, reports and plots."""
