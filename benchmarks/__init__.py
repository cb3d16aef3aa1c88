"""arunner's benchmarks: ``python -m benchmarks`` (see ``__main__``).

Never timed unit tests: every figure is a median over interleaved rounds,
reported as a ratio to its comparison measured in the same run.
"""
