"""The scale curve's table and plot, from bench/results/scale.json (written by scale_bench.py).

    .venv/bin/python bench/scale_plot.py    # redraw bench/results/scale.png and print the table
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"

# measure -> (label, kind): "total" work over the whole population should grow at most linearly (per customer ≤ 1);
# "flat" work (a read, the incremental run per changed customer) should not grow
MEASURES = {
    "floor_count_bookings_s": ("floor: count(*) of bookings (s)", "total"),
    "load_s": ("bulk load, COPY + index build (s)", "total"),
    "nightly_full_s": ("nightly full recompute (s)", "total"),
    "nightly_full_cpu_s": ("nightly full recompute, bench CPU (s)", "total"),
    "nightly_incremental_s": ("nightly incremental after a day's changes (s)", "total"),
    "nightly_incremental_rerank_s": ("  of which re-ranking the population (s)", "total"),
    "incremental_ms_per_customer": ("incremental, per customer recomputed (ms)", "flat"),
    "consumer_batch_ms": ("profile consumer, a batch of 500 booking-completed (ms)", "flat"),
    "consumer_batch_cpu_ms": ("  the same, bench CPU (ms)", "flat"),
    "consumer_batch_first_ms": ("  the first batch (its statements new; population kept since the night) (ms)", "flat"),
    "population_full_read_s": ("  a full read of the stored buyers, what each batch paid before (s)", "total"),
    "file_p50_ms": ("GET /v1/customers/{id} p50 (ms)", "flat"),
    "file_p99_ms": ("GET /v1/customers/{id} p99 (ms)", "flat"),
    "member_p50_ms": ("GET /v1/members/{id} p50 (ms)", "flat"),
    "member_p99_ms": ("GET /v1/members/{id} p99 (ms)", "flat"),
    "segment_page_s": ("segment, first page of members (s)", "total"),
    "segment_size_s": ("segment, size (s)", "total"),
    "segment_evaluate_first_s": ("segment membership job, first evaluation (s)", "total"),
    "segment_evaluate_again_s": ("segment membership job, unchanged (s)", "total"),
    "at_risk_s": ("at-risk list, first page (s)", "flat"),
    "liability_s": ("loyalty liability report (s)", "total"),
    "profile_mb": ("profile database (MB)", "total"),
    "loyalty_mb": ("loyalty database (MB)", "total"),
}


def derived(figures: dict[str, float]) -> dict[str, float]:
    out = dict(figures)
    if figures.get("nightly_incremental_customers"):
        out["incremental_ms_per_customer"] = (
            1000 * (figures["nightly_incremental_s"] - figures.get("nightly_incremental_rerank_s", 0))
            / figures["nightly_incremental_customers"])
    return out


def _growth(kind: str, small: float, large: float, factor: float) -> str:
    if not small:
        return "–"
    ratio = large / small
    return f"{ratio / factor:.2f}" if kind == "total" else f"{ratio:.2f}"


def table(results: dict[str, dict[str, float]]) -> str:
    """Markdown: one column per size, then the growth of each step (per customer for totals, absolute for flat)."""
    sizes = sorted(int(s) for s in results)
    rows = {s: derived(results[str(s)]) for s in sizes}
    steps = list(zip(sizes, sizes[1:]))
    head = " | ".join(f"{s:,}" for s in sizes) + "".join(f" | growth {a // 1000}k→{b // 1000}k" for a, b in steps)
    lines = [f"| measure | {head} |", "|---|" + "---|" * (len(sizes) + len(steps))]
    for name, (label, kind) in MEASURES.items():
        if not all(name in rows[s] for s in sizes):
            continue
        cells = " | ".join(f"{rows[s][name]:,.3f}" for s in sizes)
        growth = "".join(f" | {_growth(kind, rows[a][name], rows[b][name], b / a)}" for a, b in steps)
        lines.append(f"| {label} | {cells}{growth} |")
    counts = " | ".join(f"{int(rows[s].get('nightly_incremental_customers', 0)):,} recomputed, "
                        f"{int(rows[s].get('nightly_incremental_reranked', 0)):,} re-ranked" for s in sizes)
    lines.append(f"| incremental run: customers | {counts}{' | ' * len(steps)} |")
    return "\n".join(lines)


def plot(results: dict[str, dict[str, float]], path: Path | None = None) -> Path:
    import matplotlib  # noqa: PLC0415 - a dev extra, only the bench draws
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    sizes = sorted(int(s) for s in results)
    rows = [derived(results[str(s)]) for s in sizes]
    figure, (left, right) = plt.subplots(1, 2, figsize=(13, 5.5))
    for name, (label, kind) in MEASURES.items():
        if kind != "total" or name.endswith("_mb") or name.endswith("cpu_s") or not all(name in r for r in rows):
            continue
        left.plot(sizes, [max(r[name], 1e-4) for r in rows], marker="o", label=label.strip())
    if "floor_count_bookings_s" in rows[0]:
        base = rows[0]["nightly_full_s"]
        left.plot(sizes, [base * s / sizes[0] for s in sizes], "k--", linewidth=1, label="linear from the first size")
    left.set(xscale="log", yscale="log", xlabel="customers", ylabel="seconds",
             title="whole-population work (≤ linear is the goal)")
    left.legend(fontsize=7)
    for name, (label, kind) in MEASURES.items():
        if kind == "flat" and all(name in r for r in rows):
            right.plot(sizes, [r[name] if name.endswith("_ms") or name.endswith("_customer") else 1000 * r[name]
                               for r in rows], marker="o", label=label if "(ms)" in label else label.replace("(s)", "(ms)"))
    right.set(xscale="log", xlabel="customers", ylabel="milliseconds", title="reads and per-change work (flat is the goal)")
    right.set_ylim(bottom=0)
    right.legend(fontsize=7)
    figure.suptitle("tourcrm scale curve (PostgreSQL, 2 cores)")
    figure.tight_layout()
    path = path or RESULTS / "scale.png"
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def main() -> None:
    results: dict[str, Any] = json.loads((RESULTS / "scale.json").read_text())
    print(plot(results))
    print(table(results))


if __name__ == "__main__":
    main()
