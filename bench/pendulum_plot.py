#!/usr/bin/python3
"""Plot of a pendulum rollout (the CSV of bench/pendulum_rollout): the positions of both bobs,
truth against the learned dynamics, over 30 s.  pendulum_plot.py ROLLOUT.csv OUT.png [title]"""
import sys
import numpy as np
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

d = np.genfromtxt(sys.argv[1], delimiter=",", names=True)
fig, axes = plt.subplots(2, 3, figsize=(11, 5), sharex=True)
for row, bob in enumerate(("x1", "x2")):
    for col, c in enumerate("xyz"):
        ax = axes[row][col]
        ax.plot(d["t"], d[f"true_{bob}{c}"], "k-", lw=1.2, label="truth (RK4)")
        ax.plot(d["t"], d[f"pred_{bob}{c}"], "r--", lw=1.0, label="learned")
        ax.set_title(f"{bob} {c}")
        if row == 1:
            ax.set_xlabel("t")
axes[0][0].legend(fontsize=7)
fig.suptitle(sys.argv[3] if len(sys.argv) > 3 else "double spring pendulum rollout")
fig.tight_layout()
fig.savefig(sys.argv[2], dpi=100)
print("wrote", sys.argv[2])
