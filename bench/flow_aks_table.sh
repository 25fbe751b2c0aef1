#!/usr/bin/env bash
# The AKS ensembles E1-E5 (Albergo, Kanwar, Shanahan arXiv:1904.12072; REFERENCES.md: d = 2,
# m2 = -4, L = 6 ... 14 with lambda per L): acceptance and tau_int(|m|) of the flow chain next to
# HMC (10 leapfrog steps, trajectory length tuned to ~70 % acceptance, as in the paper) and
# checkerboard local Metropolis, each per Markov-chain step (proposal, trajectory, sweep).
# Writes OUTDIR/aks_table.md and OUTDIR/aks_tau_int.png and keeps every run's summary. Not a
# test. Usage (repository root, after scripts/build):
#   bench/flow_aks_table.sh OUTDIR [TRAIN_STEPS] [PROPOSALS] [MC_SAMPLES] [OBJECTIVE] [ENSEMBLES]
# OBJECTIVE: reverse_kl (default) or forward_kl (trained on the HMC run's fields); ENSEMBLES:
# e.g. "E1 E2" (default all five). An ensemble whose three summaries exist in OUTDIR is not
# run again (delete them to redo it); the table covers all of ENSEMBLES. FLOW_SET: further
# settings of the flow runs, e.g. the recipe that met the tutorial aims (docs/results/flows.md):
#   FLOW_SET='model.hidden=[16,16] train.batch=128 train.schedule=cosine' \
#     bench/flow_aks_table.sh aks2 10000 100000 200000 forward_kl
# PRIOR=pole: the flow's prior is the free field (model.prior free_field) whose m^2 is the
# square of the pole mass of that ensemble's HMC run (AKS's ensembles have m_p L = 4).
# DATA_SAMPLES=N: forward KL trains on a separate HMC run of N fields, one every 2 trajectories
# (OUTDIR/E.data.h5), instead of the tau_int run's fields. RANKS=R: the flow runs on R MPI ranks.
set -euo pipefail
out="${1:?usage: bench/flow_aks_table.sh OUTDIR [TRAIN_STEPS] [PROPOSALS] [MC_SAMPLES] [OBJECTIVE] [ENSEMBLES]}"
steps="${2:-2500}"; proposals="${3:-100000}"; samples="${4:-100000}"
objective="${5:-reverse_kl}"; ensembles="${6:-E1 E2 E3 E4 E5}"
root="$(cd "$(dirname "$0")/.." && pwd)"
exe="${PHYFLOW_EXE:-$root/build/src/app/phyflow}"
mkdir -p "$out"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
declare -A size=([E1]=6 [E2]=8 [E3]=10 [E4]=12 [E5]=14)
declare -A lam=([E1]=6.975 [E2]=6.008 [E3]=5.550 [E4]=5.276 [E5]=5.113)
acceptance() { /usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['acceptance']['mean'])" "$1"; }

for e in $ensembles; do
  L=${size[$e]}; l=${lam[$e]}
  if [ -e "$out/$e.hmc.json" ] && [ -e "$out/$e.metropolis.json" ] && [ -e "$out/$e.flow.json" ]; then
    echo "$e: summaries exist in $out; kept" >&2
    continue
  fi
  action="--set action.L=$L --set action.m2=-4.0 --set action.lambda=$l"
  # HMC: leapfrog, 10 steps; the trajectory length whose acceptance is nearest 0.7.
  best=""; best_d=9
  for tl in 0.5 0.8 1.0 1.3 1.6 2.0 2.5 3.0; do
    "$exe" run "$root/inputs/phi4_tutorial.yaml" $action --set hmc.integrator=leapfrog \
      --set hmc.steps=10 --set hmc.trajectory_length=$tl --set thermalize=200 --set samples=2000 \
      --set output.store_fields=false --set output.path="$out/$e.tune.h5" --overwrite \
      --set progress.interval=1000 >/dev/null
    a=$(acceptance "$out/$e.tune.json")
    d=$(/usr/bin/python3 -c "print(abs($a - 0.7))")
    if /usr/bin/python3 -c "import sys; sys.exit(0 if $d < $best_d else 1)"; then best=$tl; best_d=$d; fi
  done
  rm -f "$out/$e.tune.h5" "$out/$e.tune.json"
  echo "$e: L = $L, lambda = $l; HMC trajectory length $best" >&2
  "$exe" run "$root/inputs/phi4_tutorial.yaml" $action --set hmc.integrator=leapfrog \
    --set hmc.steps=10 --set hmc.trajectory_length=$best --set samples=$samples \
    --set output.store_fields=true --set output.path="$out/$e.hmc.h5" --overwrite \
    --set progress.interval=1000 >"$out/$e.hmc.log" 2>&1
  "$exe" run "$root/inputs/phi4_tutorial.yaml" $action --set algorithm=metropolis \
    --set samples=$samples --set output.store_fields=false --set output.path="$out/$e.metropolis.h5" \
    --overwrite --set progress.interval=1000 >"$out/$e.metropolis.log" 2>&1
  data=""
  if [ "$objective" = forward_kl ]; then
    data="--set train.objective=forward_kl --set train.data=$out/$e.hmc.h5"
    if [ -n "${DATA_SAMPLES:-}" ]; then
      "$exe" run "$root/inputs/phi4_tutorial.yaml" $action --set hmc.integrator=leapfrog \
        --set hmc.steps=10 --set hmc.trajectory_length=$best --set samples=$DATA_SAMPLES \
        --set between_samples=2 --set seed=21 --set output.store_fields=true \
        --set output.path="$out/$e.data.h5" --overwrite --set progress.interval=1000 \
        >"$out/$e.data.log" 2>&1
      data="--set train.objective=forward_kl --set train.data=$out/$e.data.h5"
    fi
  fi
  prior=""
  if [ "${PRIOR:-}" = pole ]; then
    m2=$(/usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['pole_mass']['mean'] ** 2)" "$out/$e.hmc.json")
    prior="--set model.prior=free_field --set model.prior_m2=$m2"
  fi
  launch=()
  [ "${RANKS:-1}" -gt 1 ] && launch=(mpiexec -n "$RANKS")
  read -r -a sets <<<"${FLOW_SET:-}"  # split on blanks, no globbing ([16,16] is a pattern)
  extra=()
  for setting in "${sets[@]}"; do extra+=(--set "$setting"); done
  "${launch[@]}" "$exe" run "$root/inputs/flow_tutorial.yaml" $action --set train.steps=$steps $data $prior "${extra[@]}" \
    --set sample.proposals=$proposals --set output.path="$out/$e.flow.h5" --overwrite \
    --set progress.interval=1000 >"$out/$e.flow.log" 2>&1
done

/usr/bin/python3 - "$out" "$objective" $ensembles <<'PY'
import json, sys
out, objective, names = sys.argv[1], sys.argv[2], sys.argv[3:]
rows = []
for e in names:
    h = json.load(open(f"{out}/{e}.hmc.json")); m = json.load(open(f"{out}/{e}.metropolis.json"))
    f = json.load(open(f"{out}/{e}.flow.json"))
    rows.append(dict(e=e, L=f["action"]["L"], lam=f["action"]["lambda"],
        flow_acc=f["acceptance"], flow_tau=f["tau_int"]["abs_m"], flow_chi2=f["chi2"],
        hmc_acc=h["acceptance"]["mean"], hmc_tau=h["abs_magnetization"]["tau_int"],
        hmc_tl=h["hmc"]["trajectory_length"], hmc_chi2=h["chi2"],
        met_acc=m["acceptance"]["mean"], met_tau=m["abs_magnetization"]["tau_int"], met_chi2=m["chi2"],
        steps=f["train"]["steps"], ess=f["ess"], k=f.get("pareto_k", float("nan")),
        prior=f["model"]["options"].get("prior", "normal"), prior_m2=f["model"]["options"].get("prior_m2", 0.0)))
with open(f"{out}/aks_table.md", "w") as t:
    t.write(f"flow: {objective}, {rows[0]['steps']} training steps; tau_int(|m|) per chain step\n\n")
    t.write("| ensemble | L | lambda | flow prior | flow acceptance | flow ESS | Pareto k | tau_int flow | HMC acceptance (traj. length) | tau_int HMC | Metropolis acceptance | tau_int Metropolis | chi2 flow | chi2 HMC | chi2 Metropolis |\n")
    t.write("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
    for r in rows:
        c = lambda x: f"{x['value'] if 'value' in x else x['mean']:.4f} ± {x['error']:.4f}"
        prior = "normal" if r["prior"] == "normal" else f"free field, m² {r['prior_m2']:.4f}"
        t.write(f"| {r['e']} | {r['L']} | {r['lam']} | {prior} | {r['flow_acc']:.3f} | {r['ess']:.3f} | {r['k']:.2f} | {r['flow_tau']:.2f} | "
                f"{r['hmc_acc']:.3f} ({r['hmc_tl']}) | {r['hmc_tau']:.2f} | {r['met_acc']:.3f} | {r['met_tau']:.2f} | "
                f"{c(r['flow_chi2'])} | {c(r['hmc_chi2'])} | {c(r['met_chi2'])} |\n")
print(open(f"{out}/aks_table.md").read())
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
Ls = [r["L"] for r in rows]
fig, ax = plt.subplots(figsize=(5, 3.6))
for key, label, mk in (("flow_tau", "flow MCMC (per proposal)", "o"), ("hmc_tau", "HMC (per trajectory)", "s"),
                       ("met_tau", "local Metropolis (per sweep)", "^")):
    ax.plot(Ls, [r[key] for r in rows], mk + "-", label=label)
ax.set_xlabel("L"); ax.set_ylabel("τ_int(|m|)"); ax.set_yscale("log")
ax.set_title("AKS E1–E5 (d = 2, m² = −4)"); ax.legend(fontsize=8)
fig.tight_layout(); fig.savefig(f"{out}/aks_tau_int.png", dpi=120)
PY
