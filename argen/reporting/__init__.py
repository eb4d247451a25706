"""Metrics files, summaries and plots."""
