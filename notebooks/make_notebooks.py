"""Writes the notebooks' .ipynb files from the cells below (run once after
editing; the .ipynb files are committed without outputs, `make notebooks`
executes them)."""
import nbformat as nbf

def nb(cells):
    n = nbf.v4.new_notebook()
    n.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for kind, src in cells:
        n.cells.append(nbf.v4.new_markdown_cell(src) if kind == "md" else nbf.v4.new_code_cell(src))
    return n

COMMON = """import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
import sluice_results as sr
"""

sweep = nb([
("md", """# The sweep: throughput against latency, and what each durability step costs

Reads the newest `sweep` directory under `results/` (or `$SLUICE_RESULT`): `summary.csv`,
one row per step. The first part redraws the Go charts (publish latency p50/p99/p99.9
against achieved throughput, one curve per acks × replication mode × sync policy). The
second is what the Go charts do not show: for each replication mode, how much maximum
throughput and latency at half load each durability step costs, going from
`acks=1 sync=never` to `acks=all sync=never` to `acks=all sync=always`."""),
("code", COMMON + """
d = sr.find("sweep")
print(sr.describe(d))
s = sr.summary(d)
curves = s[s["loop"] == "open"]
curves[["combo", "fraction", "target_rate", "achieved_rate", "publish_p50_ms", "publish_p99_ms", "publish_p999_ms"]]"""),
("code", """fig, axes = plt.subplots(1, 3, figsize=(16, 5), sharey=True)
for ax, q in zip(axes, ["p50", "p99", "p999"]):
    for combo, c in curves.groupby("combo"):
        c = c.sort_values("achieved_rate")
        ax.plot(c["achieved_rate"], c[f"publish_{q}_ms"], marker="o", label=combo)
    ax.set_yscale("log")
    ax.set_xlabel("achieved msgs/s")
    ax.set_title(f"publish latency {q}")
    ax.grid(True, which="both", alpha=0.3)
axes[0].set_ylabel("ms (log)")
axes[-1].legend(fontsize=7)
fig.tight_layout()"""),
("md", """## The cost of each durability step

Per mode: the maximum rate the closed-loop probe reached, and the p99 publish latency
interpolated at 50 % of each curve's own maximum (linear between the two nearest steps).
Ratios are against `acks=1 sync=never` of the same mode."""),
("code", """ladder = [("1", "never"), ("all", "never"), ("1", "always"), ("all", "always")]
rows = []
for mode, m in s.groupby("mode"):
    for acks, sync in ladder:
        c = m[(m["acks"] == acks) & (m["sync"] == sync)]
        if c.empty:
            continue
        probe = c[c["loop"] == "closed"]["achieved_rate"].max()
        p99 = sr.at_load(c[c["loop"] == "open"], 0.5, "publish_p99_ms")
        rows.append({"mode": mode, "step": f"acks={acks} sync={sync}", "max_msgs_s": probe, "p99_at_half_load_ms": p99})
cost = pd.DataFrame(rows)
base = cost[cost["step"] == "acks=1 sync=never"].set_index("mode")
cost["max_vs_base"] = cost.apply(lambda r: r["max_msgs_s"] / base.loc[r["mode"], "max_msgs_s"], axis=1)
cost["p99_vs_base"] = cost.apply(lambda r: r["p99_at_half_load_ms"] / base.loc[r["mode"], "p99_at_half_load_ms"], axis=1)
cost.round(3)"""),
("code", """fig, axes = plt.subplots(1, 2, figsize=(14, 4.5))
for ax, col, title in [(axes[0], "max_vs_base", "max throughput vs acks=1 sync=never"),
                       (axes[1], "p99_vs_base", "p99 at half load vs acks=1 sync=never")]:
    piv = cost.pivot(index="step", columns="mode", values=col).reindex([f"acks={a} sync={y}" for a, y in ladder])
    piv.plot.bar(ax=ax, rot=15)
    ax.axhline(1, color="grey", lw=0.8)
    ax.set_title(title)
    ax.grid(True, axis="y", alpha=0.3)
fig.tight_layout()"""),
])

cdf = nb([
("md", """# Latency distributions per ack level

Reads `distribution.csv` of the newest `sweep` directory (or `$SLUICE_RESULT`): the
cumulative publish and end-to-end histograms of every step as percentile rows. The Go
charts show three percentiles against load; this shows the whole distribution at one load
level — the step nearest 70 % of each curve's maximum — as a CDF with a log tail axis, so
the shape of the tail (where `acks=all` and `sync=always` pay) is visible."""),
("code", COMMON + """import numpy as np
d = sr.find("sweep")
print(sr.describe(d))
dist = sr.distribution(d)
s = sr.summary(d)
open_steps = s[s["loop"] == "open"]
chosen = open_steps.loc[(open_steps["fraction"] - 0.7).abs().groupby(open_steps["combo"]).idxmin()]
chosen[["combo", "step", "fraction", "achieved_rate", "publish_p99_ms"]]"""),
("code", """fig, axes = plt.subplots(1, 2, figsize=(15, 5), sharey=True)
for ax, kind in zip(axes, ["publish", "e2e"]):
    for _, row in chosen.iterrows():
        p = dist[(dist["step"] == row["step"]) & (dist["kind"] == kind)].sort_values("percentile")
        if p.empty:
            continue
        tail = 1 - p["percentile"] / 100
        ax.plot(p["value_ns"] / 1e6, tail.clip(lower=1e-5), marker=".", label=f"{row['combo']} @ {row['achieved_rate']:.0f}/s")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("latency ms (log)")
    ax.set_title(f"{kind}: fraction of messages slower than x")
    ax.grid(True, which="both", alpha=0.3)
axes[0].set_ylabel("1 - CDF (log)")
axes[-1].legend(fontsize=7)
fig.tight_layout()"""),
("code", """# The tail ratio per ack level: p99.9 / p50 at the chosen load (how heavy the tail is).
t = dist[dist["step"].isin(chosen["step"]) & (dist["kind"] == "publish")]
tail = t.pivot_table(index="combo", columns="percentile", values="value_ns")
(tail[99.9] / tail[50]).rename("p99.9 / p50").round(2).to_frame()"""),
])

compare = nb([
("md", """# Sluice against NATS JetStream

Reads the newest `compare` directory (or `$SLUICE_RESULT`): the same workload swept on both
systems in one run on one machine. Curves of publish p99 against throughput per
durability setting, and the ratio table: maximum msgs/s and p99 at half of each system's
own maximum."""),
("code", COMMON + """d = sr.find("compare")
print(sr.describe(d))
s = sr.summary(d)
s[["driver", "combo", "loop", "fraction", "achieved_rate", "publish_p50_ms", "publish_p99_ms", "publish_p999_ms"]]"""),
("code", """combos = sorted(s["combo"].unique())
fig, axes = plt.subplots(1, len(combos), figsize=(7 * len(combos), 5), squeeze=False)
for ax, combo in zip(axes[0], combos):
    for drv, c in s[(s["combo"] == combo) & (s["loop"] == "open")].groupby("driver"):
        c = c.sort_values("achieved_rate")
        ax.plot(c["achieved_rate"], c["publish_p99_ms"], marker="o", label=f"{drv} p99")
        ax.plot(c["achieved_rate"], c["publish_p50_ms"], ls="--", marker=".", label=f"{drv} p50")
    ax.set_yscale("log")
    ax.set_title(combo)
    ax.set_xlabel("achieved msgs/s")
    ax.set_ylabel("publish latency ms (log)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
fig.tight_layout()"""),
("code", """rows = []
for (combo, drv), c in s.groupby(["combo", "driver"]):
    rows.append({"combo": combo, "driver": drv,
                 "max_msgs_s": c[c["loop"] == "closed"]["achieved_rate"].max(),
                 "p99_at_half_load_ms": sr.at_load(c[c["loop"] == "open"], 0.5, "publish_p99_ms")})
t = pd.DataFrame(rows).pivot(index="combo", columns="driver")
if "nats" in s["driver"].unique() and "sluice" in s["driver"].unique():
    t[("ratio", "msgs/s sluice/nats")] = t[("max_msgs_s", "sluice")] / t[("max_msgs_s", "nats")]
    t[("ratio", "p99 sluice/nats")] = t[("p99_at_half_load_ms", "sluice")] / t[("p99_at_half_load_ms", "nats")]
t.round(3)"""),
])

for name, n in [("sweep.ipynb", sweep), ("latency_cdf.ipynb", cdf), ("compare.ipynb", compare)]:
    nbf.write(n, name)
