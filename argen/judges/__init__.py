"""Judges turn (prompt, response) pairs into structured verdicts; see :mod:`argen.judges.base`."""
