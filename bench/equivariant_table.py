#!/usr/bin/python3
"""Table and plot of bench/equivariant_reproduce.sh: test MSE per data kind, model and training
size from the runs' JSON summaries, next to the published figures (REFERENCES.md, seed 003)."""
import glob, json, os, re, sys

work, out = sys.argv[1], sys.argv[2]
# Published test MSE at n = 3 000 (Villar et al. 2021, Fig. 2; EMLP: Finzi et al. 2021).
published = {"o5": (0.031, 8e-3), "inertia": (0.028, 2.5e-3), "lorentz": (2.7e-4, 2e-3)}
rows = {}
for path in glob.glob(os.path.join(work, "*_*_*.json")):
    m = re.match(r"(o5|inertia|lorentz)_(scalar_mlp|mlp)_(\d+)\.json$", os.path.basename(path))
    if not m:
        continue
    j = json.load(open(path))
    if j.get("status") != "complete" or "test" not in j:
        continue
    rows[(m[1], m[2], int(m[3]))] = (j["test"]["loss"], j["seconds"], j["epochs_run"], j["model"]["parameters"])
lines = ["| data | model | n train | test MSE | published EMLP / Scalars (n = 3 000) | epochs | parameters | seconds |",
         "|---|---|---:|---:|---|---:|---:|---:|"]
for (kind, model, n) in sorted(rows, key=lambda k: (k[0], k[1] != "scalar_mlp", k[2])):
    mse, sec, ep, par = rows[(kind, model, n)]
    pub = "%.2g / %.2g" % published[kind] if n == 3000 else ""
    lines.append(f"| {kind} | {model} | {n} | {mse:.3g} | {pub} | {ep} | {par} | {sec:.0f} |")
open(os.path.join(out, "equivariant_table.md"), "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    print("matplotlib missing: no plot (apt-get install python3-matplotlib)")
    sys.exit(0)
kinds = [k for k in ("o5", "inertia", "lorentz") if any(r[0] == k for r in rows)]
fig, axes = plt.subplots(1, len(kinds), figsize=(4.2 * len(kinds), 3.6), squeeze=False)
for ax, kind in zip(axes[0], kinds):
    for model, style in (("scalar_mlp", "o-"), ("mlp", "s--")):
        pts = sorted((n, rows[(kind, model, n)][0]) for (k, mo, n) in rows if k == kind and mo == model)
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], style, label="phyflow " + model)
    ax.plot([3000], [published[kind][0]], "k^", label="EMLP (published)")
    ax.plot([3000], [published[kind][1]], "r*", ms=10, label="Scalars (published)")
    ax.set_xscale("log"); ax.set_yscale("log"); ax.set_title(kind)
    ax.set_xlabel("training samples"); ax.set_ylabel("test MSE")
axes[0][0].legend(fontsize=7)
fig.tight_layout()
fig.savefig(os.path.join(out, "equivariant_mse.png"), dpi=110)
print("wrote", os.path.join(out, "equivariant_mse.png"))
