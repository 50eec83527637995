"""One table of two bench reports, scenario by scenario: the same bench on tansu and on Apache Kafka, say.

    python -m bench.side_by_side bench/results/latest.json bench/results/latest-apache-kafka.json

Each report's own header line (date, broker, machine) comes first, so each column says where it was measured."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def _figure(figure: dict[str, Any] | None) -> str:
    if figure is None:
        return "not run"
    unit = figure["unit"]
    fmt = "{:,.0f}" if unit == "msgs/s" else "{:,.3f}" if unit == "s" else "{:,.1f}"
    zig, raw, ratio = figure["zig"]["median"], figure["raw"]["median"], figure["ratio"]
    shown = [fmt.format(zig) if zig is not None else "n/a", fmt.format(raw) if raw is not None else "n/a"]
    text = f"{shown[0]} / {shown[1]} {unit}: {'n/a' if ratio is None else f'{ratio:.2f}'}"
    defaults = figure.get("defaults") or {}
    if defaults.get("median") is not None and defaults.get("ratio") is not None:
        text += f" (librdkafka's defaults: {fmt.format(defaults['median'])} {unit}, zig {defaults['ratio']:.2f}x)"
    return text


def table(reports: list[dict[str, Any]]) -> str:
    """Markdown: a line per report naming it, then per scenario each report's zig / baseline medians and ratio, and
    where the scenario has one, the same raw loop with librdkafka's defaults (its median and zig's ratio to it)."""
    names = [report["broker"].split(" (")[0] for report in reports]
    lines = [
        f"- {name}: {report['date']}; {report['broker']}; {report['machine']}; {report['runs']} run(s) each"
        for name, report in zip(names, reports, strict=True)
    ]
    lines += [
        "",
        "Scenario | target | " + " | ".join(f"{name}: zig / baseline (medians): ratio" for name in names),
        "--- | --- | " + " | ".join("---" for _ in names),
    ]
    scenarios: list[str] = []
    for report in reports:
        scenarios += [f["scenario"] for f in report["figures"] if f["scenario"] not in scenarios]
    for scenario in scenarios:
        found = [next((f for f in report["figures"] if f["scenario"] == scenario), None) for report in reports]
        target = next(f["target"] for f in found if f is not None)
        lines.append(f"{scenario} | {target} | " + " | ".join(_figure(f) for f in found))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.side_by_side", description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="+", type=Path, help="bench reports (.json), one column each")
    args = parser.parse_args(argv)
    print(table([json.loads(path.read_text(encoding="utf-8")) for path in args.reports]), end="")


if __name__ == "__main__":
    main()
