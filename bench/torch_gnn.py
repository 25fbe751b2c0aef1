"""The seed-004 graph network's training step in PyTorch-Python, the peer of bench_train's
BM_GnnStep (bench/gnn_throughput.sh runs both).

Same model as phyflow's gnn (Cranmer et al. 2020): edge MLP 2 n_f -> hidden x3 (ReLU) -> msg
(bottleneck: msg = d), node MLP n_f + msg -> hidden x3 -> d, every ordered pair of the n
bodies as dense (batch, n(n-1), features) tensors gathered with index_select, messages summed
per receiver with index_add, loss sum |a - a_true| / (batch n), Adam lr 1e-3; same batch (64
frames), dtype (float32) and thread count (torch.set_num_threads; OpenBLAS from
OPENBLAS_NUM_THREADS, set by the caller). Prints graphs/s of the fastest of --repeats timed
blocks.

    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/torch_gnn.py --n 4 --d 2 --threads 1
"""
import argparse
import time

import torch
from torch import nn


def mlp(inp, hidden, out):
    return nn.Sequential(nn.Linear(inp, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, out))


class GN(nn.Module):
    def __init__(self, n, d, hidden, msg):
        super().__init__()
        nf = 2 * d + 2
        self.n, self.msg = n, msg
        self.edge = mlp(2 * nf, hidden, msg)
        self.node = mlp(nf + msg, hidden, d)
        pairs = [(i, j) for i in range(n) for j in range(n) if i != j]
        self.register_buffer("recv", torch.tensor([p[0] for p in pairs]))
        self.register_buffer("send", torch.tensor([p[1] for p in pairs]))

    def forward(self, x):
        m = self.edge(torch.cat([x.index_select(1, self.recv), x.index_select(1, self.send)], -1))
        agg = torch.zeros(x.shape[0], self.n, self.msg, dtype=m.dtype).index_add(1, self.recv, m)
        return self.node(torch.cat([x, agg], -1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--d", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=300)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    model = GN(a.n, a.d, a.hidden, a.d)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(a.batch, a.n, 2 * a.d + 2)
    y = torch.randn(a.batch, a.n, a.d)

    def step():
        opt.zero_grad()
        loss = (model(x) - y).abs().sum() / (a.batch * a.n)
        loss.backward()
        opt.step()

    step()  # warm-up
    best = 0.0
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        for _ in range(a.steps):
            step()
        best = max(best, a.steps * a.batch / (time.perf_counter() - t0))
    print(f"graphs_per_s={best:.1f} n={a.n} d={a.d} hidden={a.hidden} threads={a.threads} "
          f"torch={torch.__version__}")


if __name__ == "__main__":
    main()
