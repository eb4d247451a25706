"""ArGen's benchmarks (``make bench`` / ``python -m bench.run``; see BENCHMARKS.md).

Each module ``bench/<name>.py`` exposes ``run(quick: bool = False) -> dict`` of flat metrics and
runs alone as ``python -m bench.<name>``. :mod:`bench.run` runs them all, each in its own process.
"""
