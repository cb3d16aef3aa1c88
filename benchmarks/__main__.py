"""Run the benchmarks: ``python -m benchmarks [--quick] [--runs N] [--json FILE]
[--docs DIR]``.

Run from the repository root (the kernel benchmarks use the test tier's
kernel helpers).  Every figure is measured in ``--runs`` independent
processes (5 unless told) and judged on its spread across them; the exit
status is 1 when a target is missed.  ``--docs docs`` rewrites
docs/benchmarks.md and its plot; ``nox -s bench`` does exactly that.
``--quick`` makes a few hundred iterations: enough to prove that everything
runs, too few for figures, so its verdicts never decide the exit status.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from benchmarks import runs
from benchmarks.figures import missed
from benchmarks.report import IMAGE, markdown, plot, text

#: The fewest runs that docs/benchmarks.md may come from.
DOCS_RUNS = 5


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few hundred iterations")
    parser.add_argument(
        "--runs",
        type=int,
        default=5,
        help="independent processes that measure every figure (default: 5)",
    )
    parser.add_argument(
        "--no-kernel", action="store_true", help="only the per-call overhead"
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--docs", type=Path, help="write benchmarks.md and its plot into this directory"
    )
    parser.add_argument(
        "--one-process",
        type=Path,
        metavar="FILE",
        help="measure once in this process and write the results to FILE as JSON"
        " (what each of the --runs processes does)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.one_process:
        measured = runs.measure(args.quick, not args.no_kernel)
        args.one_process.write_text(json.dumps(measured.as_json()) + "\n")
        return 0
    if args.runs < 1 or (args.docs and not args.quick and args.runs < DOCS_RUNS):
        parser.error(f"--runs: at least 1, and {DOCS_RUNS} for --docs")
    summary = runs.run(args.runs, args.quick, not args.no_kernel)
    print(text(summary))
    if args.json:
        args.json.write_text(json.dumps(summary.as_json(), indent=2) + "\n")
    if args.docs:
        args.docs.mkdir(parents=True, exist_ok=True)
        (args.docs / "benchmarks.md").write_text(markdown(summary))
        plot(summary, args.docs / IMAGE)
    failing = missed(summary.figures)
    if failing and not summary.quick:
        names = "; ".join(figure.name for figure in failing)
        print(f"\nmissed {len(failing)} target(s): {names}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
