"""Reading Sluice load-generator results (results/<date>-<name>/) for notebooks.

The notebooks read only the files `sluice bench` writes (loadgen/results/doc.go
documents them): run.json, summary.csv, series.csv and distribution.csv. Which
directory a notebook reads: the SLUICE_RESULT environment variable if set, else
the newest directory of the wanted kind under ../results.
"""
import json
import os
from pathlib import Path

import pandas as pd

RESULTS = Path(__file__).resolve().parent.parent / "results"


def find(kind):
    """The result directory to analyse: $SLUICE_RESULT, or the newest of kind."""
    env = os.environ.get("SLUICE_RESULT")
    if env:
        return Path(env)
    dirs = sorted(
        (d for d in RESULTS.iterdir() if (d / "run.json").is_file() and info(d)["kind"] == kind),
        key=lambda d: d.name,
    )
    if not dirs:
        raise SystemExit(f"no {kind} directory under {RESULTS}: run `sluice bench {kind} --quick` first")
    return dirs[-1]


def info(d):
    with open(Path(d) / "run.json") as f:
        return json.load(f)


def summary(d):
    """summary.csv, one row per step; latencies in ms. Adds `combo`."""
    s = pd.read_csv(Path(d) / "summary.csv", dtype={"acks": str, "step": str})
    s["combo"] = "acks=" + s["acks"] + " " + s["mode"] + " sync=" + s["sync"]
    return s


def series(d):
    """series.csv, one row per step and interval; latencies in ns."""
    return pd.read_csv(Path(d) / "series.csv", dtype={"step": str})


def distribution(d):
    """distribution.csv: percentile rows of every step's cumulative histograms."""
    s = pd.read_csv(Path(d) / "distribution.csv", dtype={"acks": str, "step": str})
    s["combo"] = "acks=" + s["acks"] + " " + s["mode"] + " sync=" + s["sync"]
    return s


def describe(d):
    i = info(d)
    m = i.get("machine", {})
    return (f"{d.name}: {i['kind']} with {i['driver']}, workload {i['workload']['name']}, "
            f"{m.get('cpuModel', '?')} x{m.get('cpus', '?')}, kernel {m.get('kernel', '?')}, "
            f"git {((i.get('git') or {}).get('revision') or '?')[:12]}")


def at_load(curve, fraction, column):
    """Linear interpolation of `column` at `fraction` of the curve's max
    achieved rate (open-loop steps only, sorted by achieved rate)."""
    c = curve.sort_values("achieved_rate")
    x = fraction * c["achieved_rate"].max()
    below, above = c[c["achieved_rate"] <= x], c[c["achieved_rate"] >= x]
    if below.empty or above.empty:
        return float("nan")
    a, b = below.iloc[-1], above.iloc[0]
    if b["achieved_rate"] == a["achieved_rate"]:
        return a[column]
    t = (x - a["achieved_rate"]) / (b["achieved_rate"] - a["achieved_rate"])
    return a[column] + t * (b[column] - a[column])
