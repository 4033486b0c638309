#!/usr/bin/env python3
"""Plots a soak's CSV (scripts/fleet.py --csv) as a PNG: RSS, CPU, and — for a DNS fleet —
the instances discovered against the instances with series, and canary traces found.

    scripts/plot-soak.sh <soak.csv> <out.png> [title]

Needs matplotlib; scripts/plot-soak.sh installs it (3.9.2) in a virtual environment under
target/ and runs this.
"""

import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    source, out = sys.argv[1], sys.argv[2]
    title = sys.argv[3] if len(sys.argv) > 3 else source
    with open(source, newline="") as f:
        rows = [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]
    if not rows:
        sys.exit(f"plot-soak: {source} has no samples")
    minutes = [r["t_s"] / 60 for r in rows]
    dns = "instances" in rows[0]
    panels = 3 if dns else 2
    fig, axes = plt.subplots(panels, 1, sharex=True, figsize=(9, 2.6 * panels), dpi=100)
    axes[0].plot(minutes, [r["rss_kib"] / 1024 for r in rows], color="tab:blue")
    axes[0].set_ylabel("RSS (MiB)")
    axes[0].set_ylim(bottom=0)
    axes[0].axvline(minutes[-1] / 3, color="grey", linestyle=":", label="end of warm-up")
    axes[0].legend(loc="lower right")
    axes[1].plot(minutes, [r["cpu_percent"] for r in rows], color="tab:orange")
    axes[1].set_ylabel("CPU (% of a core)")
    axes[1].set_ylim(bottom=0)
    if dns:
        axes[2].plot(minutes, [r["instances"] for r in rows], label="instances discovered", color="tab:green")
        axes[2].plot(minutes, [r["instances_with_series"] for r in rows], label="instances with series",
                     color="tab:red", linestyle="--")
        axes[2].set_ylabel("instances")
        axes[2].set_ylim(bottom=0)
        found = axes[2].twinx()
        found.plot(minutes, [r["canary_found"] for r in rows], color="tab:purple", alpha=0.5,
                   label="canary traces found (total)")
        found.set_ylabel("canary found")
        lines = axes[2].get_legend_handles_labels()
        more = found.get_legend_handles_labels()
        axes[2].legend(lines[0] + more[0], lines[1] + more[1], loc="lower right")
    axes[-1].set_xlabel("minutes")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out)
    print(f"plot-soak: wrote {out} ({len(rows)} samples)")


if __name__ == "__main__":
    main()
