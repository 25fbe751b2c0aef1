#!/usr/bin/env python3
"""The flow tutorial's model (Albergo et al. arXiv:2101.08176) in PyTorch-Python, timed the way
`workflow: flow` reports itself: reverse-KL training steps per second (global batch, Adam) and
flow proposals per second (no_grad, chunks). Same architecture as inputs/flow_tutorial.yaml:
16 affine couplings, checkerboard masks, conv nets 1 -> [8, 8] -> 2, kernel 3, circular
padding, LeakyReLU, final tanh; phi^4 (AKS) d = 2, L = 8, m2 = -4, lambda = 8; float32.

  OMP_NUM_THREADS=1 /usr/bin/python3 bench/torch_flow.py --steps 200 --proposals 20000
"""
import argparse, json, math, time
import torch

p = argparse.ArgumentParser()
p.add_argument("--L", type=int, default=8)
p.add_argument("--steps", type=int, default=200)
p.add_argument("--batch", type=int, default=64)
p.add_argument("--proposals", type=int, default=20000)
p.add_argument("--chunk", type=int, default=1024)
p.add_argument("--threads", type=int, default=1)
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(1)
L, m2, lam = a.L, -4.0, 8.0


def checker(parity):
    m = torch.ones((L, L)) - parity
    m[::2, ::2] = parity
    m[1::2, 1::2] = parity
    return m


def conv_net():
    sizes = [1, 8, 8, 2]
    net = []
    for i in range(3):
        net.append(torch.nn.Conv2d(sizes[i], sizes[i + 1], 3, padding=1, padding_mode="circular"))
        net.append(torch.nn.LeakyReLU() if i < 2 else torch.nn.Tanh())
    return torch.nn.Sequential(*net)


class Affine(torch.nn.Module):
    def __init__(self, parity):
        super().__init__()
        self.mask = checker(parity)
        self.net = conv_net()

    def forward(self, x):
        frozen = self.mask * x
        out = self.net(frozen.unsqueeze(1))
        s, t = out[:, 0], out[:, 1]
        fx = (1 - self.mask) * t + (1 - self.mask) * x * torch.exp(s) + frozen
        return fx, ((1 - self.mask) * s).sum(dim=(1, 2))


layers = torch.nn.ModuleList([Affine(i % 2) for i in range(16)])


def sample(n):
    z = torch.randn(n, L, L)
    logq = -0.5 * (z * z).sum(dim=(1, 2)) - 0.5 * L * L * math.log(2 * math.pi)
    for layer in layers:
        z, ld = layer(z)
        logq = logq - ld
    return z, logq


def action(phi):
    kin = 0
    for mu in (1, 2):
        kin = kin + 2 * phi**2 - phi * torch.roll(phi, -1, mu) - phi * torch.roll(phi, 1, mu)
    return (kin + m2 * phi**2 + lam * phi**4).sum(dim=(1, 2))


opt = torch.optim.Adam(layers.parameters(), lr=1e-3)
t0 = time.perf_counter()
for step in range(a.steps):
    opt.zero_grad()
    phi, logq = sample(a.batch)
    loss = (logq + action(phi)).mean()
    loss.backward()
    opt.step()
train_s = time.perf_counter() - t0
t1 = time.perf_counter()
with torch.no_grad():
    done = 0
    while done < a.proposals:
        n = min(a.chunk, a.proposals - done)
        phi, logq = sample(n)
        logp = -action(phi.double())
        done += n
sample_s = time.perf_counter() - t1
print(json.dumps({"steps_per_s": a.steps / train_s, "proposals_per_s": a.proposals / sample_s,
                  "final_loss": float(loss), "torch": torch.__version__, "threads": a.threads}))
