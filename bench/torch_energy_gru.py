"""The seed-000 energy GRU training step in PyTorch-Python, the peer of bench_train.

Same model as phyflow's energy_gru (snake-ordered 8x8 spins, 1-layer GRU, linear, energy
(1/beta) sum log sigmoid(s * z) of the predicted spins, L1 loss, Adam lr 1e-4), same batch
and thread counts (torch.set_num_threads; OpenBLAS from OPENBLAS_NUM_THREADS, set by the
caller). Prints samples/s of the fastest of --repeats timed blocks.

    OPENBLAS_NUM_THREADS=2 /usr/bin/python3 bench/torch_energy_gru.py --hidden 512 --threads 1
"""
import argparse
import time

import torch
from torch import nn


class EnergyGRU(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.gru = nn.GRU(1, hidden, batch_first=True)
        self.linear = nn.Linear(hidden, 1)

    def forward(self, seq, beta):
        z = self.linear(self.gru(seq[:, :-1].unsqueeze(-1))[0]).squeeze(-1)
        return nn.functional.logsigmoid(seq[:, 1:] * z).sum(1) / beta


def snake(L):
    return [r * L + (c if r % 2 == 0 else L - 1 - c) for r in range(L) for c in range(L)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    model = EnergyGRU(a.hidden)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    x = (torch.randint(0, 2, (a.batch, 8, 8)) * 2 - 1).float()
    seq = x.reshape(a.batch, -1)[:, snake(8)]
    beta = torch.full((a.batch,), 0.25)
    y = torch.full((a.batch,), -30.0)

    def step():
        opt.zero_grad()
        loss = nn.functional.l1_loss(model(seq, beta), y)
        loss.backward()
        opt.step()

    step()
    best = 0.0
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        for _ in range(a.steps):
            step()
        best = max(best, a.steps * a.batch / (time.perf_counter() - t0))
    print(f"pytorch_python hidden={a.hidden} batch={a.batch} threads={a.threads} "
          f"samples_per_s={best:.1f}")


if __name__ == "__main__":
    main()
