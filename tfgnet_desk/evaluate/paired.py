"""Paired differences between evaluation runs, case by case: ``python -m tfgnet_desk.evaluate.paired``.

The figures of record in docs/results.md are paired: the same cases, the same seeds, two rows. This
reads the per-case records (``<run>/cases/*.json``) of one or more runs per side, so a long evaluation
split with ``--start`` is combined here, and reports the mean of each side, the mean difference with its
95 % interval (normal approximation, 1.96 standard errors), and the share of cases where side A is
higher. Two uses:

- two methods of the same runs: ``paired RUN... --a-method tfgnet --b-method bicubic``;
- one method of two models: ``paired NEW_RUN... --b OLD_RUN... --a-method tfgnet``.

A case recorded twice on one side (overlapping ``--start`` runs) must have the same score both times,
otherwise the command stops and says which case; cases on one side only are counted and left out.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

DEFAULT_METRIC = "face_cal_dlib-resnet"  # centred dlib Face Sim to the target, %: the figure of record


class PairingError(ValueError):
    """The runs cannot be paired as asked (no records, a case scored differently twice)."""


@dataclass(frozen=True)
class Paired:
    metric: str
    a: str  # "method @ runs"
    b: str
    n: int  # cases with a value on both sides
    mean_a: float
    mean_b: float
    diff: float  # mean of a - b
    ci95: float  # half-width of the 95 % interval of diff
    a_higher: float  # share of cases where a > b, in [0, 1]
    only_a: int  # cases with a value on side A only
    only_b: int


def case_scores(runs: list[Path], method: str, metric: str) -> dict[str, float | None]:
    """Case id -> ``metric`` of ``method`` (None when the case has no value) over the runs' records."""
    out: dict[str, float | None] = {}
    for run in runs:
        files = sorted((Path(run) / "cases").glob("*.json"))
        if not files:
            raise PairingError(f"{run}: no per-case records (cases/*.json); is it an evaluation folder?")
        for f in files:
            record = json.loads(f.read_text())
            case = str(record.get("case", f.stem))
            value = record.get("scores", {}).get(method, {}).get(metric)
            value = None if value is None or isinstance(value, str) else float(value)
            if case in out and out[case] != value:
                raise PairingError(f"case {case} is scored {out[case]} and {value} for {method} in {runs}")
            out[case] = value
    return out


def paired(
    a_runs: list[Path],
    a_method: str,
    b_runs: list[Path] | None = None,
    b_method: str | None = None,
    metric: str = DEFAULT_METRIC,
) -> Paired:
    """The paired comparison of ``a_method`` on ``a_runs`` against ``b_method`` (default: the same) on
    ``b_runs`` (default: the same runs)."""
    b_runs = list(b_runs or a_runs)
    b_method = b_method or a_method
    if list(a_runs) == b_runs and a_method == b_method:
        raise PairingError("side A and side B are the same method of the same runs: nothing to compare")
    sa = {k: v for k, v in case_scores(list(a_runs), a_method, metric).items() if v is not None}
    sb = {k: v for k, v in case_scores(b_runs, b_method, metric).items() if v is not None}
    both = sorted(set(sa) & set(sb))
    if not both:
        raise PairingError(f"no case has {metric} for both {a_method} (A) and {b_method} (B)")
    d = [sa[k] - sb[k] for k in both]
    n = len(d)
    sd = statistics.stdev(d) if n > 1 else float("nan")
    return Paired(
        metric=metric,
        a=f"{a_method} @ {', '.join(map(str, a_runs))}",
        b=f"{b_method} @ {', '.join(map(str, b_runs))}",
        n=n,
        mean_a=statistics.fmean(sa[k] for k in both),
        mean_b=statistics.fmean(sb[k] for k in both),
        diff=statistics.fmean(d),
        ci95=1.96 * sd / math.sqrt(n),
        a_higher=sum(x > 0 for x in d) / n,
        only_a=len(set(sa) - set(sb)),
        only_b=len(set(sb) - set(sa)),
    )


def describe(p: Paired) -> str:
    ci = "n/a (one case)" if math.isnan(p.ci95) else f"+-{p.ci95:.2f}"
    lines = [
        f"{p.metric}, {p.n} paired cases",
        f"  A  {p.a}: {p.mean_a:.2f}",
        f"  B  {p.b}: {p.mean_b:.2f}",
        f"  A - B: {p.diff:+.2f} ({ci}, 95 %); A higher in {100 * p.a_higher:.0f} % of cases",
    ]
    if p.only_a or p.only_b:
        lines.append(f"  left out: {p.only_a} case(s) on side A only, {p.only_b} on side B only")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m tfgnet_desk.evaluate.paired",
        description="Paired difference between two rows of evaluation runs, case by case (95 %% interval).",
    )
    ap.add_argument("runs", nargs="+", type=Path, help="side A: evaluation folders (their cases/*.json)")
    ap.add_argument("--b", nargs="+", type=Path, default=None, help="side B's folders (default: side A's)")
    ap.add_argument("--a-method", default="tfgnet", help="side A's row (default: tfgnet)")
    ap.add_argument("--b-method", default=None, help="side B's row (default: side A's)")
    ap.add_argument("--metric", default=DEFAULT_METRIC, help=f"per-case key (default: {DEFAULT_METRIC})")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    args = ap.parse_args(argv)
    try:
        result = paired(args.runs, args.a_method, args.b, args.b_method, args.metric)
    except PairingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(asdict(result), indent=2) if args.json else describe(result))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
