"""Table and plots of the energy language-model reproduction (see energy_lm_reproduce.sh).

For every row's training run (its JSON summary and HDF5 output) in WORK with tag TAG:
the seed's metric -- RMSE of the test-set energies after subtracting the mean of the
predictions and the mean of the truths -- recomputed from the stored predictions, next to the
seed's published number; epochs, best epoch and training time. Writes
OUT/energy_lm_table_TAG.md and OUT/energy_lm_best_worst_TAG.png (with one row run:
OUT/energy_lm_predicted_TAG.png, that row alone), and OUT/energy_lm_learning_TAG.png, the
validation metric per epoch of every row.
"""
import json
import os
import sys

import h5py
import numpy as np

ROWS = [  # deck, label, the seed's RMSE (README / Model Evaluation notebook)
    ("probability_gru", "Probability GRU (original)", 19.85),
    ("gru", "Energy GRU", 15.78),
    ("2d", "Energy GRU + 2D", 14.21),
    ("bi", "Energy GRU + bidirectional", 13.64),
    ("2d_bi", "Energy GRU + 2D + bidirectional", 12.72),
    ("attention", "Energy GRU + attention", 12.71),
    ("attention_bi", "Energy GRU + attention + bidirectional", 11.26),
    ("attention_2d_bi", "Energy GRU + attention + 2D + bidirectional", 7.79),
]


def centered_rmse(pred, true):
    return float(np.sqrt(np.mean(((pred - pred.mean()) - (true - true.mean())) ** 2)))


def bootstrap_rmse(pred, true, draws=32000, seed=0):
    """The seed's protocol: the metric on 32 000 draws with replacement."""
    idx = np.random.default_rng(seed).integers(0, len(pred), draws)
    return centered_rmse(pred[idx], true[idx])


def main(work, tag, out):
    lines = [
        f"| model | seed RMSE | phyflow RMSE (all test) | phyflow RMSE (32 000 draws) | epochs (best) | train time (epochs x median epoch) |",
        "|---|---|---|---|---|---|",
    ]
    results = {}
    curves = {}
    for deck, label, seed_rmse in ROWS:
        h5 = os.path.join(work, f"energy_lm_{deck}_{tag}.h5")
        js = os.path.join(work, f"energy_lm_{deck}_{tag}.json")
        if not (os.path.exists(h5) and os.path.exists(js)):
            lines.append(f"| {label} | {seed_rmse} | not run | | | |")
            continue
        s = json.load(open(js))
        with h5py.File(h5, "r") as f:
            pred = f["predictions/t0/energy"][()]
            true = f["predictions/t0/energy_true"][()]
        r, rb = centered_rmse(pred, true), bootstrap_rmse(pred, true)
        results[deck] = (label, pred, true, r)
        curves[deck] = (label, s["history"])
        # Epochs x the median epoch (training + validation): robust to a run paused or
        # stopped and resumed in between.
        per_epoch = sorted(m.get("train_seconds", 0) + m.get("val_seconds", 0) for m in s["history"])
        train_s = per_epoch[len(per_epoch) // 2] * len(per_epoch)
        lines.append(
            f"| {label} | {seed_rmse} | {r:.2f} | {rb:.2f} | {s['epochs_run']} ({s['best_epoch']}) "
            f"| {train_s / 60:.1f} min |")
    text = "\n".join(lines) + "\n"
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, f"energy_lm_table_{tag}.md"), "w") as f:
        f.write(text)
    print(text)
    if results:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        best = min(results, key=lambda k: results[k][3])
        worst = max(results, key=lambda k: results[k][3])
        keys = (best, worst) if best != worst else (best,)  # one row run: its panel alone
        fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 4.5), sharey=True,
                                 squeeze=False)
        axes = axes[0]
        for ax, key in zip(axes, keys):
            label, pred, true, r = results[key]
            p = pred - pred.mean() + true.mean()
            ax.scatter(true, p, s=2, alpha=0.2)
            lo, hi = true.min(), true.max()
            ax.plot([lo, hi], [lo, hi], "k--", lw=1)
            ax.set_title(f"{label}\nRMSE {r:.2f}")
            ax.set_xlabel("true energy (J)")
        axes[0].set_ylabel("predicted energy, mean-shifted (J)")
        fig.tight_layout()
        name = "best_worst" if len(keys) == 2 else "predicted"
        fig.savefig(os.path.join(out, f"energy_lm_{name}_{tag}.png"), dpi=110)
        # Learning curves: the validation set's centred RMSE (the seed's metric) per epoch.
        fig, ax = plt.subplots(figsize=(6.5, 4.5))
        for deck, (label, history) in curves.items():
            ep = [h["epoch"] for h in history if "val_rmse_centered" in h]
            rm = [h["val_rmse_centered"] for h in history if "val_rmse_centered" in h]
            ax.plot(ep, rm, "o-", ms=3, label=label)
        for deck, label, seed_rmse in ROWS:
            if deck in curves:
                ax.axhline(seed_rmse, ls=":", lw=1, color="grey")
        ax.set_xlabel("epoch")
        ax.set_ylabel("validation RMSE, centred (J)")
        ax.set_yscale("log")
        ax.legend(fontsize=7)
        ax.set_title("learning curves (dotted: the seed's test RMSE of each row)", fontsize=9)
        fig.tight_layout()
        fig.savefig(os.path.join(out, f"energy_lm_learning_{tag}.png"), dpi=110)

if __name__ == "__main__":
    main(*sys.argv[1:4])
