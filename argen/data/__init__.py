"""Scenario files (bundled and user-supplied) and the datasets built from them."""
