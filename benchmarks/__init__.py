"""arunner's benchmarks: ``python -m benchmarks`` (see ``__main__``).

Never timed unit tests: every figure is a ratio to its comparison measured
in the same process, taken in several independent processes and judged on
its spread across them.
"""
