#!/usr/bin/env python3
"""Collects the summaries of bench/distill_reproduce.sh (distill_<law>_<d>d_<reg>_e<E>.json,
with _ns<S>_nt<T> for other data sizes than 500 simulations x 100 frames and _w<W> for an L1
or KL weight other than the deck's)
into docs/results/distillation_table.md: message R^2 next to the paper's (Cranmer et al.
2020, REFERENCES.md), the equations found, and the held-out test MAE of the graph network and
of the distilled model; and docs/results/distillation_learning.png: every run's validation
MAE per epoch (from STEM.gnn.metrics.jsonl), one panel per force law, when matplotlib is
there.

    /usr/bin/python3 bench/distill_table.py runs/distill docs/results
"""
import glob
import json
import os
import re
import sys

PAPER = {  # message R^2, 2D: (bottleneck, L1)
    ("spring", 2): {"bottleneck": 1.000, "l1": 1.000},
    ("r1", 2): {"bottleneck": 1.000, "l1": 1.000},
    ("r2", 2): {"bottleneck": 0.993, "l1": 0.990},
    ("charge", 2): {"bottleneck": 0.947, "l1": 0.004},
}
LAWS = ["spring", "r1", "r2", "charge"]
REGS = ["standard", "bottleneck", "l1", "kl"]


def main():
    work, outdir = sys.argv[1], sys.argv[2]
    rows = []
    for path in glob.glob(os.path.join(work, "distill_*_*d_*_e*.json")):
        m = re.match(r"distill_([a-z0-9]+)_(\d)d_([a-z0-9]+)_e(\d+)(?:_ns(\d+)_nt(\d+))?(?:_w([0-9.e+-]+))?\.json$",
                     os.path.basename(path))
        if not m:
            continue
        j = json.load(open(path))
        if j.get("status") != "complete":
            continue
        gnn = json.load(open(path.replace(".json", ".gnn.json"))) if os.path.exists(
            path.replace(".json", ".gnn.json")) else {}
        data = f"{m.group(5) or 500} × {m.group(6) or 100}"
        metrics = path.replace(".json", ".gnn.metrics.jsonl")
        curve = [json.loads(l) for l in open(metrics) if l.strip()] if os.path.exists(metrics) else []
        reg = m.group(3) + (f" (w {m.group(7)})" if m.group(7) else "")
        rows.append((m.group(1), int(m.group(2)), reg, int(m.group(4)), j, gnn, data, curve))
    rows.sort(key=lambda r: (r[1], LAWS.index(r[0]) if r[0] in LAWS else 9,
                             REGS.index(r[2].split()[0]) if r[2].split()[0] in REGS else 9,
                             r[2], int(r[6].split()[0]), r[3]))
    lines = ["| law | dims | regularizer | training data (sims × frames) | epochs | message R² | paper | "
             "R² vs F/m1 | test MAE: GNN | distilled (refit) | distilled (SR constants) | edge equations |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for law, d, reg, epochs, j, gnn, data, _ in rows:
        paper = PAPER.get((law, d), {}).get(reg.split()[0])
        mae = j["test_mae"]
        eqs = "<br>".join(f"`{e}`" for e in j["edge_equations"])
        r2a = j.get("message_r2_acceleration")  # absent in runs before 2026-12-05
        lines.append(f"| {law} | {d} | {reg} | {data} | {epochs} | {j['message_r2']:.3f} | "
                     f"{'' if paper is None else f'{paper:.3f}'} | "
                     f"{'' if r2a is None else f'{r2a:.3f}'} | {mae['gnn']:.4g} | "
                     f"{mae['distilled']:.4g} | {mae.get('distilled_before_refit', float('nan')):.4g} | {eqs} |")
    os.makedirs(outdir, exist_ok=True)
    out = os.path.join(outdir, "distillation_table.md")
    with open(out, "w") as f:
        f.write("<!-- written by bench/distill_table.py from bench/distill_reproduce.sh's runs -->\n")
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    print("wrote", out)
    learning_curves(rows, os.path.join(outdir, "distillation_learning.png"))


def learning_curves(rows, out):
    """Validation MAE (per acceleration component) per epoch of every run, a panel per law."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not found: no", out)
        return
    laws = [l for l in LAWS if any(r[0] == l and r[7] for r in rows)]
    if not laws:
        return
    fig, axes = plt.subplots(1, len(laws), figsize=(4.2 * len(laws), 3.6), squeeze=False)
    for ax, law in zip(axes[0], laws):
        for _, d, reg, epochs, _, _, data, curve in (r for r in rows if r[0] == law and r[7]):
            ep = [c["epoch"] for c in curve if "val_mae" in c]
            mae = [c["val_mae"] for c in curve if "val_mae" in c]
            ax.plot(ep, mae, marker=".", label=f"{d}D {reg}, {data}")
        ax.set_yscale("log")
        ax.set_title(law)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("validation MAE per component")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print("wrote", out)


if __name__ == "__main__":
    main()
