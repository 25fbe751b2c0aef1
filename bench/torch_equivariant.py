"""The equivariant models' training step in PyTorch-Python, the peer of bench_equivariant:
scalar_mlp on O(5) data (Gram matrix of x1, x2 -> MLP) and the HNN of the double spring
pendulum (H = MLP(scalars), dz/dt = J grad H by autograd, RK4 through 4 steps of dt = 0.2 with
`substeps`), Adam lr 1e-3, float32, one fixed batch; samples/s of the fastest of 3 blocks.

    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/torch_equivariant.py scalar_mlp DATA.h5 512 50

Under mpiexec (-n 2: OpenMPI's OMPI_COMM_WORLD_RANK/SIZE) the processes train data-parallel as
bench_equivariant does: each reads its own BATCH rows, and after every backward the gradients
are averaged by one all-reduce of a flat buffer over torch.distributed (gloo, 127.0.0.1);
samples/s counts all ranks.
"""
import os, sys, time
import h5py, torch
from torch import nn

kind, path, batch, steps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
layers = int(sys.argv[5]) if len(sys.argv) > 5 else 3
width = int(sys.argv[6]) if len(sys.argv) > 6 else 128
act = {"silu": nn.SiLU, "tanh": nn.Tanh, "softplus": nn.Softplus, "relu": nn.ReLU}[sys.argv[7] if len(sys.argv) > 7 else "silu"]
torch.set_num_threads(1)
torch.manual_seed(1)
world = int(os.environ.get("OMPI_COMM_WORLD_SIZE", "1"))
rank = int(os.environ.get("OMPI_COMM_WORLD_RANK", "0"))
if world > 1:
    import torch.distributed as dist
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", "29533")
    dist.init_process_group("gloo", rank=rank, world_size=world)
f = h5py.File(path, "r")
rows = torch.tensor([(rank * batch + i) % f["x"].shape[0] for i in range(batch)])
x = torch.tensor(f["x"][:], dtype=torch.float32)[rows]
y = torch.tensor(f["y"][:], dtype=torch.float32)[rows]

def mlp(i, o):
    mods = []
    for _ in range(layers):
        mods += [nn.Linear(i, width), act()]
        i = width
    return nn.Sequential(*mods, nn.Linear(i, o))

iu = torch.triu_indices(2, 2)
if kind == "scalar_mlp":
    net = mlp(3, 1)
    def loss_fn():
        v = x.view(-1, 2, 5)
        g = v @ v.transpose(1, 2)
        return nn.functional.mse_loss(net(g[:, iu[0], iu[1]]), y)
else:
    net = mlp(17, 1)
    iu5 = torch.triu_indices(5, 5)
    def scalars(z):
        v = torch.cat([z.view(-1, 4, 3), torch.tensor([0., 0., 1.]).expand(z.shape[0], 1, 3)], 1)
        g = v @ v.transpose(1, 2)
        x1, x2 = z[:, 0:3], z[:, 3:6]
        return torch.cat([g[:, iu5[0], iu5[1]], x1.norm(dim=1, keepdim=True), (x1 - x2).norm(dim=1, keepdim=True)], 1)
    def field(z):
        if not z.requires_grad:
            z = z.requires_grad_(True)
        h = net(scalars(z)).sum()
        g, = torch.autograd.grad(h, z, create_graph=True)
        return torch.cat([g[:, 6:], -g[:, :6]], 1)
    def loss_fn(substeps=2, dt=0.2):
        z, out, hh = x, [], dt / substeps
        for _ in range(y.shape[1] // 12):
            for _ in range(substeps):
                k1 = field(z); k2 = field(z + 0.5 * hh * k1); k3 = field(z + 0.5 * hh * k2); k4 = field(z + hh * k3)
                z = z + hh / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
            out.append(z)
        return nn.functional.mse_loss(torch.cat(out, 1), y)
opt = torch.optim.Adam(net.parameters(), lr=1e-3)
params = list(net.parameters())
def step():
    opt.zero_grad()
    l = loss_fn()
    l.backward()
    if world > 1:  # one bucket: every gradient (0 where a parameter has none) in one all-reduce
        flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in params])
        dist.all_reduce(flat)
        flat /= world
        at = 0
        for p in params:
            p.grad = flat[at:at + p.numel()].view_as(p)
            at += p.numel()
    opt.step()
    return l.item()
step()
best = 1e300
for _ in range(3):
    if world > 1:
        dist.barrier()
    t0 = time.perf_counter()
    for _ in range(steps):
        l = step()
    dt = torch.tensor([time.perf_counter() - t0], dtype=torch.float64)
    if world > 1:
        dist.all_reduce(dt, op=dist.ReduceOp.MAX)
    best = min(best, dt.item())
if rank == 0:
    print(f"{kind} python ranks={world} batch={batch} samples_per_s={steps * batch * world / best:.1f} loss={l:.4g}")
