#!/usr/bin/env python3
"""Plot the AKS E1-E5 rows of the forward-KL recipe (docs/results/flows.md) as PNG.

The rows come from runs made in different sessions (bench/flow_aks_table.sh and the commands
quoted beside the table), not all of whose run directories survive, so the plot reads the
table that documents them: the first Markdown table after the line quoting
`bench/flow_aks_table.sh aks3`. Left: tau_int(|m|) per Markov-chain step of the flow chain
(10 000 training steps; the 20 000-step E3 row as its own marker), HMC and local Metropolis;
right: the flow's acceptance with AKS's 50-70 % band. Usage (repository root):
    /usr/bin/python3 bench/flow_aks_recipe_plot.py docs/results/flows.md docs/results/flows_aks_recipe.png
"""
import re
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def recipe_rows(text):
    lines = text.splitlines()
    start = next(i for i, l in enumerate(lines) if "bench/flow_aks_table.sh aks3" in l)
    rows, in_table = [], False
    for line in lines[start:]:
        if line.startswith("|"):
            in_table = True
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if re.match(r"E\d", cells[0]):
                rows.append(cells)
        elif in_table:
            break
    if not rows:
        sys.exit(f"no recipe table found after 'bench/flow_aks_table.sh aks3' in {sys.argv[1]}")
    return rows


def num(cell):
    return float(cell.replace("*", "").split()[0])


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    rows = recipe_rows(open(sys.argv[1], encoding="utf-8").read())
    base, long = {}, {}
    for c in rows:
        L = int(c[1])
        entry = dict(acc=num(c[3]), flow=num(c[5]), hmc=num(c[7]), met=num(c[9]))
        (long if "20 000 steps" in c[0] else base)[L] = entry
    Ls = sorted(base)
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(9, 3.6))
    ax.plot(Ls, [base[L]["flow"] for L in Ls], "o-", label="flow MCMC, 10 000 steps (per proposal)")
    if long:
        ax.plot(sorted(long), [long[L]["flow"] for L in sorted(long)], "D", color="C0", mfc="none",
                label="flow MCMC, 20 000 steps")
    ax.plot(Ls, [base[L]["hmc"] for L in Ls], "s-", label="HMC (per trajectory)")
    ax.plot(Ls, [base[L]["met"] for L in Ls], "^-", label="local Metropolis (per sweep)")
    ax.set_xlabel("L"); ax.set_ylabel("τ_int(|m|)"); ax.set_yscale("log")
    ax.set_title("AKS E1–E5, forward-KL recipe"); ax.legend(fontsize=7)
    bx.axhspan(0.5, 0.7, color="0.9", label="AKS's 50–70 %")
    bx.plot(Ls, [base[L]["acc"] for L in Ls], "o-", label="flow, 10 000 steps")
    if long:
        bx.plot(sorted(long), [long[L]["acc"] for L in sorted(long)], "D", color="C0", mfc="none",
                label="flow, 20 000 steps")
    bx.set_xlabel("L"); bx.set_ylabel("acceptance"); bx.set_ylim(0, 1)
    bx.set_title("independence Metropolis–Hastings"); bx.legend(fontsize=7)
    fig.tight_layout(); fig.savefig(sys.argv[2], dpi=120)
    for L in Ls:
        print(f"L = {L}: " + ", ".join(f"{k} {v}" for k, v in base[L].items()))


if __name__ == "__main__":
    main()
