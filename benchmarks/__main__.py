"""Run the benchmarks: ``python -m benchmarks [--quick] [--json FILE] [--docs DIR]``.

Run from the repository root (the kernel benchmarks use the test tier's
kernel helpers).  ``--docs docs`` rewrites docs/benchmarks.md and its plot;
``nox -s bench`` does exactly that.  ``--quick`` makes a few hundred
iterations: enough to prove that everything runs, too few for figures.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from benchmarks import kernel, overhead
from benchmarks.figures import medians
from benchmarks.report import IMAGE, Results, environment, markdown, plot, text


def measure(quick: bool, with_kernel: bool) -> Results:
    rounds, calls = (3, 100) if quick else (15, 2000)
    comparisons, samples = overhead.measure(rounds, calls)
    sizes = kernel.Sizes.quick() if quick else kernel.Sizes.full()
    return Results(
        environment=environment(),
        per_call_us=medians(samples, scale=1e6),
        comparisons=comparisons,
        rounds=rounds,
        calls=calls,
        kernel=kernel.measure(sizes) if with_kernel else None,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few hundred iterations")
    parser.add_argument(
        "--no-kernel", action="store_true", help="only the per-call overhead"
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--docs", type=Path, help="write benchmarks.md and its plot into this directory"
    )
    args = parser.parse_args()
    results = measure(args.quick, not args.no_kernel)
    print(text(results))
    if args.json:
        args.json.write_text(json.dumps(results.as_json(), indent=2) + "\n")
    if args.docs:
        args.docs.mkdir(parents=True, exist_ok=True)
        (args.docs / "benchmarks.md").write_text(markdown(results))
        plot(results, args.docs / IMAGE)


if __name__ == "__main__":
    main()
