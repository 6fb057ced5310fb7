"""``import dlbasic as torch`` runs ordinary PyTorch training code.

Each program below is an ordinary, idiomatic PyTorch script written ONCE as a function of the
library module (``def program(torch, ...)``).  It runs with the real torch and then with
dlbasic, from the same data (a NumPy RNG) and the same initial weights (torch's default init,
carried over through ``state_dict()`` as NumPy arrays), and everything it reports — losses,
gradients, outputs, learning rates, final parameters — must agree within float32 tolerances.
Where a result depends on each library's own random stream (shuffling, dropout masks,
``randperm``), the program reports a property of it instead (a permutation, a fraction).
"""
import copy
import math
import os
import tempfile

import numpy as np
import pytest

torch_ = pytest.importorskip("torch")

import dlbasic                                      # noqa: E402

ATOL, RTOL = 1e-5, 1e-4


# -- harness -------------------------------------------------------------------------------

def _norm(v):
    """Library objects to plain Python/NumPy so the two runs can be compared."""
    if isinstance(v, (torch_.Tensor, dlbasic.Tensor)):
        return v.detach().cpu().numpy().copy()
    if isinstance(v, (torch_.dtype, dlbasic.dtype)):
        return "dtype:" + str(v).split(".")[-1]
    if isinstance(v, (torch_.Size, dlbasic.Size)):
        return tuple(v)
    if isinstance(v, dict):
        return {k: _norm(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_norm(x) for x in v]
    if isinstance(v, tuple):                       # also torch.return_types / namedtuples
        return tuple(_norm(x) for x in v)
    return v


def assert_same(got, want, path="result", atol=ATOL, rtol=RTOL):
    """dlbasic's result ``got`` equals torch's ``want`` (floats within tolerance)."""
    if isinstance(want, dict):
        assert isinstance(got, dict), f"{path}: {type(got)} is not a dict"
        assert sorted(got) == sorted(want), f"{path}: keys {sorted(got)} != {sorted(want)}"
        for k in want:
            assert_same(got[k], want[k], f"{path}[{k!r}]", atol, rtol)
    elif isinstance(want, (list, tuple)):
        assert isinstance(got, (list, tuple)), f"{path}: {type(got)} is not a sequence"
        assert len(got) == len(want), f"{path}: length {len(got)} != {len(want)}"
        for i, (g, w) in enumerate(zip(got, want)):
            assert_same(g, w, f"{path}[{i}]", atol, rtol)
    elif isinstance(want, np.ndarray):
        assert isinstance(got, np.ndarray), f"{path}: {type(got)} is not an array"
        assert got.shape == want.shape, f"{path}: shape {got.shape} != {want.shape}"
        assert got.dtype == want.dtype, f"{path}: dtype {got.dtype} != {want.dtype}"
        if want.dtype.kind in "biu":
            np.testing.assert_array_equal(got, want, err_msg=path)
        else:
            np.testing.assert_allclose(got, want, atol=atol, rtol=rtol, err_msg=path)
    elif isinstance(want, bool) or want is None or isinstance(want, str):
        assert got == want, f"{path}: {got!r} != {want!r}"
    elif isinstance(want, float):
        assert isinstance(got, float), f"{path}: {got!r} is not a float"
        assert math.isclose(got, want, rel_tol=rtol, abs_tol=atol), f"{path}: {got} != {want}"
    elif isinstance(want, int):
        assert type(got) is int, f"{path}: {got!r} is not an int"
        assert got == want, f"{path}: {got} != {want}"
    else:
        assert got == want, f"{path}: {got!r} != {want!r}"


def run_both(program, *args, atol=ATOL, rtol=RTOL, **kwargs):
    """Run ``program`` with torch, then with dlbasic from torch's initial weights; compare."""
    torch_.manual_seed(0)
    want = _norm(program(torch_, *args, init=None, **kwargs))
    dlbasic.manual_seed(0)
    got = _norm(program(dlbasic, *args, init=want.get("init"), **kwargs))
    assert_same(got, want, atol=atol, rtol=rtol)
    return got, want


def start_from(torch, model, init):
    """The weights a program starts from: its own default init (reference run), else ``init``."""
    if init is None:
        return {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in init.items()})
    return init


def _data(n=64, d=10, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(np.float32)
    w = rng.standard_normal((d, classes)).astype(np.float32)
    y = (X @ w + 0.5 * rng.standard_normal((n, classes))).argmax(1).astype(np.int64)
    return X, y


# -- program 1: an MLP classifier, the canonical training loop ---------------------------------

def mlp_classification(torch, X_np, y_np, path, init):
    nn = torch.nn
    F = torch.nn.functional
    from_numpy = torch.from_numpy

    class MLP(nn.Module):
        def __init__(self, n_in, n_hidden, n_out, mean, std):
            super().__init__()
            self.register_buffer("mean", mean)
            self.register_buffer("std", std)
            self.fc1 = nn.Linear(n_in, n_hidden)
            self.act = nn.ReLU()
            self.fc2 = nn.Linear(n_hidden, n_hidden)
            self.drop = nn.Dropout(p=0.5)
            self.head = nn.Linear(n_hidden, n_out)

        def forward(self, x):
            x = (x - self.mean) / self.std
            h = self.act(self.fc1(x))
            h = F.gelu(self.fc2(h)) + h            # a residual block
            return self.head(h)

    X, y = from_numpy(X_np), from_numpy(y_np)
    model = MLP(X.shape[1], 16, 3, X.mean(dim=0), X.std(dim=0) + 1e-6)
    model.drop = nn.Identity()                     # a user replaces a submodule
    init = start_from(torch, model, init)
    out = {"init": init}
    out["repr"] = str(model)
    out["n_params"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
    out["buffers"] = [name for name, _ in model.named_buffers()]
    out["state_keys"] = list(model.state_dict().keys())

    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if not n.endswith("weight")]
    optimizer = torch.optim.SGD([{"params": decay}, {"params": no_decay, "weight_decay": 0.0}],
                                lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-2)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=16,
                                         shuffle=False)
    out["n_batches"] = len(loader)
    losses, norms, lrs, accs = [], [], [], []
    for epoch in range(3):
        model.train()
        for i, (xb, yb) in enumerate(loader):
            optimizer.zero_grad()
            logits = model(xb)
            loss = F.cross_entropy(logits, yb, label_smoothing=0.1)
            loss.backward()
            norms.append(torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0).item())
            optimizer.step()
            losses.append(loss.item())
        scheduler.step()
        lrs.append(scheduler.get_last_lr()[0])
        lrs.append(optimizer.param_groups[1]["lr"])
        model.eval()
        with torch.no_grad():
            pred = model(X).argmax(dim=1)
            accs.append((pred == y).float().mean().item())
    out.update(losses=losses, grad_norms=norms, lrs=lrs, accs=accs)
    out["training"] = [model.training, model.fc1.training]
    out["final"] = {k: v.clone() for k, v in model.state_dict().items()}

    torch.save(model.state_dict(), path)
    restored = MLP(X.shape[1], 16, 3, torch.zeros(X.shape[1]), torch.ones(X.shape[1]))
    restored.drop = nn.Identity()
    restored.load_state_dict(torch.load(path))
    restored.eval()
    with torch.no_grad():
        out["same_after_reload"] = bool(torch.equal(restored(X), model(X)))
        out["restored_mean"] = restored.mean
    return out


def test_mlp_classification_matches_torch(tmp_path):
    X, y = _data()
    got, want = run_both(mlp_classification, X, y, str(tmp_path / "mlp.pt"))
    assert got["same_after_reload"] is True
    assert got["n_batches"] == 4 and len(got["losses"]) == 12
    assert got["losses"][-1] < got["losses"][0]


# -- program 2: shuffled loader, gradient accumulation, Adam ---------------------------------

def shuffled_accumulation(torch, X_np, t_np, init):
    nn = torch.nn
    F = torch.nn.functional
    X, t = torch.tensor(X_np), torch.tensor(t_np)
    n = X.size(0)
    model = nn.Sequential(nn.Linear(X.shape[1], 8), nn.Tanh(), nn.Linear(8, 1))
    init = start_from(torch, model, init)
    ds = torch.utils.data.TensorDataset(X, t, torch.arange(n))
    g = torch.Generator().manual_seed(1234)
    loader = torch.utils.data.DataLoader(ds, batch_size=7, shuffle=True, generator=g)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2, betas=(0.9, 0.99))
    epoch_losses, is_permutation, orders = [], [], []
    for epoch in range(3):
        optimizer.zero_grad()            # one step per epoch: the gradient of the whole set
        total = 0.0
        seen = []
        for xb, tb, idx in loader:
            loss = F.mse_loss(model(xb).squeeze(1), tb, reduction="sum") / n
            loss.backward()
            total += loss.item()
            seen.append(idx)
        optimizer.step()
        epoch_losses.append(total)
        order = torch.cat(seen)
        is_permutation.append(sorted(order.tolist()) == list(range(n)))
        orders.append(order.tolist())
    return {"init": init, "epoch_losses": epoch_losses, "is_permutation": is_permutation,
            "shuffled": orders[0] != list(range(n)) and orders[0] != orders[1],
            "params": [p.detach() for p in model.parameters()],
            "step": [s["step"] for s in optimizer.state_dict()["state"].values()]}


def test_shuffled_loader_with_gradient_accumulation_matches_torch():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((30, 4)).astype(np.float32)
    t = (X[:, 0] - 2 * X[:, 1]).astype(np.float32)
    # the shuffled order differs between the libraries; the summed gradient does not
    got, _ = run_both(shuffled_accumulation, X, t, atol=2e-5, rtol=2e-4)
    assert got["is_permutation"] == [True] * 3 and got["shuffled"] is True


def test_loader_generator_seed_makes_shuffling_reproducible():
    torch = dlbasic
    ds = torch.utils.data.TensorDataset(torch.arange(20))

    def order(seed):
        g = torch.Generator().manual_seed(seed)
        return [b[0].tolist() for b in torch.utils.data.DataLoader(ds, batch_size=5,
                                                                    shuffle=True, generator=g)]
    assert order(3) == order(3)
    assert order(3) != order(4)
    assert sorted(sum(order(3), [])) == list(range(20))


# -- program 3: a custom autograd.Function inside a model ------------------------------------

def custom_function_training(torch, X_np, y_np, init):
    nn = torch.nn
    F = torch.nn.functional

    class ScaledSoftplus(torch.autograd.Function):
        """y = log(1 + exp(beta x)) / beta, dy/dx = sigmoid(beta x)."""

        @staticmethod
        def forward(ctx, x, beta):
            ctx.save_for_backward(x)
            ctx.beta = beta
            return torch.log1p(torch.exp(beta * x)) / beta

        @staticmethod
        def backward(ctx, grad_output):
            x, = ctx.saved_tensors
            grad_x = grad_output * torch.sigmoid(ctx.beta * x) if ctx.needs_input_grad[0] else None
            return grad_x, None

    class StraightThroughRound(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return torch.round(x)

        @staticmethod
        def backward(ctx, grad):
            return grad

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(10, 12)
            self.fc2 = nn.Linear(12, 3)

        def forward(self, x):
            h = ScaledSoftplus.apply(self.fc1(x), 2.0)
            h = h + (StraightThroughRound.apply(h * 4) / 4 - h).detach()   # quantise, STE
            return self.fc2(h)

    model = Net()
    init = start_from(torch, model, init)
    X, y = torch.from_numpy(X_np), torch.from_numpy(y_np)
    optimizer = torch.optim.RMSprop(model.parameters(), lr=1e-2)
    losses = []
    for step in range(4):
        optimizer.zero_grad()
        loss = F.nll_loss(F.log_softmax(model(X), dim=1), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())

    x = torch.linspace(-2, 2, 9, requires_grad=True)
    y1 = ScaledSoftplus.apply(x, 1.0)
    y1.sum().backward()
    return {"init": init, "losses": losses, "final": model.state_dict(),
            "fn_out": y1, "fn_grad": x.grad, "grad_fn_is_set": y1.grad_fn is not None}


def test_custom_autograd_function_matches_torch():
    X, y = _data(32)
    run_both(custom_function_training, X, y)


# -- program 4: tensor manipulation a user writes every day -----------------------------------

def tensor_idioms(torch, a_np, init):
    out = {}
    x = torch.tensor(a_np)                                # (4, 6) float32
    out["size0"] = x.size(0)
    out["shape_tail"] = x.shape[1:]
    out["dtype"] = x.dtype
    out["view"] = x.view(2, 12)
    out["view_infer"] = x.view(-1, 3)
    out["reshape_T"] = x.t().reshape(3, 8)
    out["permute"] = x.reshape(2, 2, 6).permute(2, 0, 1).contiguous()
    out["cat1"] = torch.cat([x, x * 2], dim=1)
    out["stack"] = torch.stack([x[0], x[1], x[-1]])
    out["index"] = [x[1], x[:, 2], x[1:3, ::2], x[..., -1], x[None, 0].shape, x[[0, 2]],
                    x[torch.tensor([3, 0])], x[x[:, 0] > 0]]
    out["masked_fill"] = x.masked_fill(x < 0, float("-inf")).softmax(dim=-1)
    out["where"] = torch.where(x > 0, x, torch.zeros_like(x))
    out["where_scalar"] = torch.where(x > 0, x, 0.0)
    idx = torch.tensor([[0, 5], [1, 1], [2, 0], [5, 3]])
    out["gather"] = x.gather(1, idx)
    onehot = torch.zeros(4, 6).scatter_(1, idx[:, :1], 1.0)
    out["scatter_"] = onehot
    out["topk"] = list(x.topk(2, dim=1))
    out["topk_values"] = x.topk(3).values
    out["sort"] = list(torch.sort(x, dim=0, descending=True))
    out["argsort"] = x[:, 0].argsort()
    out["einsum"] = torch.einsum("ij,kj->ik", x, x)
    out["einsum_batch"] = torch.einsum("bij,bjk->bik", x.view(2, 2, 6), x.view(2, 6, 2))
    out["numpy"] = x.detach().cpu().numpy()
    out["f64"] = x.to(torch.float64)
    out["f64_dtype"] = x.to(torch.float64).dtype
    out["double_sum"] = x.double().sum().item()
    out["arange"] = torch.arange(6).float() / 2
    out["arange_dtype"] = [torch.arange(6).dtype, torch.arange(6).float().dtype,
                           torch.arange(0, 1, 0.25).dtype]
    perm = torch.randperm(10)
    out["randperm_is_perm"] = sorted(perm.tolist()) == list(range(10))
    out["randperm_dtype"] = perm.dtype
    out["new_zeros"] = x.new_zeros(2, 3)
    out["new_zeros_dtype"] = x.new_zeros((2,)).dtype
    out["new_tensor"] = x.new_tensor([1, 2])
    out["zeros_like"] = torch.zeros_like(x, dtype=torch.long)
    out["ones_like"] = torch.ones_like(x)
    out["flatten"] = torch.flatten(x.view(2, 2, 6), 1)
    out["expand"] = torch.arange(4).unsqueeze(1).expand(-1, 3)
    out["tensor_list"] = torch.tensor([0.5, 1.5, -2.0])
    out["tensor_int_list"] = torch.tensor([[1, 2], [3, 4]])
    out["tensor_bool_list"] = torch.tensor([True, False])
    out["tolist"] = x[:2, :2].tolist()
    out["item"] = x[0, 0].item()
    out["int_item"] = torch.tensor([3, 4]).sum().item()
    out["sigmoid"] = torch.sigmoid(x)
    out["clamp_min"] = torch.clamp(x, min=0)
    out["clamp_both"] = x.clamp(-0.5, 0.5)
    out["max_values"] = x.max(dim=1).values
    out["max_indices"] = x.max(1)[1]
    out["max_all"] = x.max()
    out["min_keep"] = list(x.min(dim=0, keepdim=True))
    out["softmax_manual"] = torch.exp(x) / torch.exp(x).sum(dim=-1, keepdim=True)
    out["mean_std"] = [x.mean(), x.std(dim=0), x.var(dim=1, unbiased=False), x.sum(1)]
    out["norm"] = [x.norm(), x.norm(dim=1), torch.linalg.norm(x, dim=0)
                   if hasattr(torch, "linalg") else x.norm(dim=0)]
    out["chunk"] = list(x.chunk(2, dim=1))
    out["split"] = list(x.split([1, 3], dim=0))
    out["squeeze"] = x[:, :1].squeeze(1)
    out["repeat"] = x[:1, :2].repeat(2, 3)
    out["bool_ops"] = [((x > 0) & (x < 1)), (x > 0).sum(), (x > 0).any(), (x > 10).all(),
                       (x > 0).float().mean(), (~(x > 0)).long()]
    out["cumsum"] = x.cumsum(dim=1)
    out["int_div"] = [torch.arange(7) // 2, torch.arange(7) % 3, torch.arange(7) / 2]
    out["matmul"] = [x @ x.T, x.matmul(x.t()), torch.mm(x, x.t())]
    out["promotion"] = [(torch.arange(3) * 0.5).dtype, (torch.arange(3) + x[0, :3]).dtype,
                        (x.double() + x).dtype, (torch.tensor([1, 2]) * 2).dtype]

    with torch.no_grad():
        z = x.clone()
        z += 1
        z *= 2
        z[z > 2] = 0
        z[:, 0] = -1.0
        z[1] = torch.arange(6).float()
    out["inplace"] = z

    m = x.clone()
    m[m > 0] = 0
    out["mask_assign"] = m
    out["nonzero"] = (x > 0.5).nonzero()
    out["unique"] = torch.unique(torch.tensor([3, 1, 3, 2, 1]))
    out["one_hot"] = torch.nn.functional.one_hot(torch.tensor([0, 2, 1]), num_classes=4)
    return out


def test_tensor_idioms_match_torch():
    a = np.random.default_rng(2).standard_normal((4, 6)).astype(np.float32)
    got, _ = run_both(tensor_idioms, a)
    assert got["randperm_is_perm"] is True


# -- program 5: autograd idioms on raw tensors (a hand-written training loop) --------------------

def manual_regression(torch, X_np, t_np, init):
    X, t = torch.from_numpy(X_np), torch.from_numpy(t_np)
    w = torch.zeros(X.shape[1], 1).requires_grad_()
    b = torch.zeros(1, requires_grad=True)
    losses, grad_history = [], []
    for step in range(5):
        pred = X @ w + b
        loss = ((pred.squeeze(-1) - t) ** 2).mean()
        loss.backward()
        grad_history.append(w.grad.clone())
        with torch.no_grad():
            w -= 0.1 * w.grad
            b.sub_(0.1 * b.grad)
        w.grad.zero_()
        b.grad = None
        losses.append(loss.item())

    # gradient of a non-scalar, retain_grad on an intermediate, detach, requires_grad flags
    x = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    h = x * x
    h.retain_grad()
    y = (h.exp() / h.exp().sum()).log()
    y.backward(torch.tensor([1.0, 0.0, -1.0]))
    d = x.detach()
    with torch.no_grad():
        under_no_grad = (x * 2).requires_grad
    return {"losses": losses, "w": w, "b": b, "grads": grad_history, "x_grad": x.grad,
            "h_grad": h.grad, "flags": [x.is_leaf, h.is_leaf, d.requires_grad, under_no_grad,
                                        y.requires_grad, b.grad is None]}


def test_manual_regression_and_autograd_idioms_match_torch():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((20, 3)).astype(np.float32)
    t = (X @ np.array([1.0, -1.0, 0.5], dtype=np.float32) + 0.3).astype(np.float32)
    run_both(manual_regression, X, t)


# -- program 6: an embedding model with LayerNorm, AdamW and a cosine schedule ----------------

def embedding_classifier(torch, tokens_np, y_np, init):
    nn = torch.nn
    F = torch.nn.functional

    class BagOfEmbeddings(nn.Module):
        def __init__(self, vocab, dim, n_classes, pad=0):
            super().__init__()
            self.pad = pad
            self.emb = nn.Embedding(vocab, dim, padding_idx=pad)
            self.norm = nn.LayerNorm(dim)
            self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, n_classes))

        def forward(self, tokens):
            mask = (tokens != self.pad).unsqueeze(-1).float()
            h = (self.emb(tokens) * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)
            return self.mlp(self.norm(h))

    tokens, y = torch.from_numpy(tokens_np), torch.from_numpy(y_np)
    model = BagOfEmbeddings(20, 8, 2)
    init = start_from(torch, model, init)
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if "norm" in name or name.endswith(".bias") or "emb" in name else decay).append(p)
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=3e-2)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=4, eta_min=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    losses, lrs = [], []
    for epoch in range(4):
        model.train()
        for start in range(0, tokens.size(0), 8):
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(tokens[start:start + 8]), y[start:start + 8])
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        scheduler.step()
        lrs.append(optimizer.param_groups[0]["lr"])
    model.eval()
    with torch.no_grad():
        probs = F.softmax(model(tokens), dim=-1)
    return {"init": init, "losses": losses, "lrs": lrs, "probs": probs,
            "pad_row": model.emb.weight[0], "final": model.state_dict()}


def test_embedding_classifier_matches_torch():
    rng = np.random.default_rng(4)
    tokens = rng.integers(0, 20, (24, 6)).astype(np.int64)
    tokens[:, 4:] = 0
    y = (tokens[:, 0] > 10).astype(np.int64)
    got, _ = run_both(embedding_classifier, tokens, y)
    assert np.all(got["pad_row"] == 0)


# -- program 7: binary classification, checkpoint with optimizer, resume --------------------------

def binary_checkpoint_resume(torch, X_np, y_np, path, init):
    nn = torch.nn

    def make():
        model = nn.Sequential(nn.Linear(X_np.shape[1], 6), nn.LeakyReLU(0.1), nn.Linear(6, 1))
        opt = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.9)
        return model, opt

    X, y = torch.from_numpy(X_np), torch.from_numpy(y_np).float()
    criterion = nn.BCEWithLogitsLoss(pos_weight=torch.tensor([2.0]))
    model, optimizer = make()
    init = start_from(torch, model, init)

    def train(model, optimizer, steps):
        losses = []
        for _ in range(steps):
            optimizer.zero_grad()
            loss = criterion(model(X).squeeze(1), y)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        return losses

    losses = train(model, optimizer, 3)
    torch.save({"epoch": 3, "model": model.state_dict(), "optimizer": optimizer.state_dict()},
               path)
    losses_straight = losses + train(model, optimizer, 3)

    model2, optimizer2 = make()
    ckpt = torch.load(path)
    model2.load_state_dict(ckpt["model"])
    optimizer2.load_state_dict(ckpt["optimizer"])
    losses_resumed = losses + train(model2, optimizer2, 3)

    model2.eval()
    with torch.no_grad():
        prob = torch.sigmoid(model2(X)).squeeze(1)
        acc = ((prob > 0.5).long() == y.long()).float().mean().item()
    return {"init": init, "losses": losses_straight, "resumed": losses_resumed,
            "epoch": ckpt["epoch"], "prob": prob, "acc": acc,
            "bce": nn.functional.binary_cross_entropy(prob, y).item()}


def test_binary_classifier_checkpoint_resume_matches_torch(tmp_path):
    rng = np.random.default_rng(5)
    X = rng.standard_normal((40, 5)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0.3).astype(np.int64)
    got, _ = run_both(binary_checkpoint_resume, X, y, str(tmp_path / "ckpt.pt"))
    np.testing.assert_allclose(got["resumed"], got["losses"], rtol=1e-6, atol=1e-7)


# -- program 8: a small CNN (conv-bn-relu-pool x2 + linear), train then eval ---------------------

def small_cnn(torch, images_np, labels_np, init):
    nn = torch.nn
    F = torch.nn.functional

    class SmallCNN(nn.Module):
        def __init__(self, n_classes=4):
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(1, 4, kernel_size=3, padding=1, bias=False),
                nn.BatchNorm2d(4),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
                nn.Conv2d(4, 8, 3, stride=1, padding=1),
                nn.BatchNorm2d(8),
                nn.ReLU(),
                nn.MaxPool2d(kernel_size=2, stride=2),
            )
            self.classifier = nn.Linear(8 * 2 * 2, n_classes)

        def forward(self, x):
            x = self.features(x)
            x = torch.flatten(x, 1)
            return self.classifier(x)

    model = SmallCNN()
    init = start_from(torch, model, init)
    images, labels = torch.from_numpy(images_np), torch.from_numpy(labels_np)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    losses = []
    model.train()
    for step in range(3):
        for xb, yb in zip(images.split(8), labels.split(8)):
            optimizer.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    model.eval()
    with torch.no_grad():
        logits = model(images)
        acc = (logits.argmax(1) == labels).float().mean().item()
    bn = model.features[1]
    return {"init": init, "losses": losses, "logits": logits, "acc": acc,
            "running": [bn.running_mean, bn.running_var, bn.num_batches_tracked],
            "final": model.state_dict(), "repr": repr(model),
            "n_params": sum(p.numel() for p in model.parameters())}


def test_small_cnn_matches_torch():
    rng = np.random.default_rng(6)
    images = rng.standard_normal((16, 1, 8, 8)).astype(np.float32)
    labels = rng.integers(0, 4, 16).astype(np.int64)
    # BatchNorm of small batches and max-pool argmax make this the most sensitive program
    run_both(small_cnn, images, labels, atol=1e-4, rtol=1e-3)


# -- program 9: initialisation, seeding and parameter counting -----------------------------------

def init_and_seeding(torch, init):
    nn = torch.nn

    def init_weights(m):
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    model = nn.Sequential(nn.Conv2d(3, 16, 3), nn.ReLU(), nn.Flatten(), nn.Linear(16 * 4, 200),
                          nn.Linear(200, 300))
    model.apply(init_weights)
    w = model[3].weight
    bound = math.sqrt(6.0 / (64 + 200))
    conv_std = model[0].weight.std().item()
    with torch.no_grad():
        nn.init.constant_(model[4].bias, 0.25)
        nn.init.ones_(model[4].weight[:2])
    torch.manual_seed(7)
    a = torch.randn(5)
    torch.manual_seed(7)
    b = torch.randn(5)
    lin = nn.Linear(500, 400)          # default init: U(-1/sqrt(in), 1/sqrt(in)) for both
    return {
        "xavier_in_bound": bool(w.abs().max().item() <= bound),
        "xavier_spread": bool(w.abs().max().item() > 0.9 * bound),
        "zero_bias": bool((model[3].bias == 0).all()),
        "kaiming_std_ok": abs(conv_std - math.sqrt(2.0 / (16 * 9))) < 0.02,
        "const": model[4].bias[:3], "ones": model[4].weight[:2, :3],
        "reseed_same": bool(torch.equal(a, b)),
        "default_init_bound": bool(lin.weight.abs().max() <= 1 / math.sqrt(500)),
        "default_init_spread": bool(lin.weight.abs().max() > 0.99 / math.sqrt(500)),
        "bias_bound": bool(lin.bias.abs().max() <= 1 / math.sqrt(500)),
        "n_params": sum(p.numel() for p in model.parameters()),
        "n_trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "names": [n for n, _ in model.named_parameters()],
        "requires_grad": [p.requires_grad for p in model.parameters()],
        "shapes": [tuple(p.shape) for p in model.parameters()],
    }


def test_init_seeding_and_parameter_counting_match_torch():
    run_both(init_and_seeding)


# -- program 10: freezing, schedulers, clip_grad_value_, zero_grad semantics ----------------------

def finetune_frozen_backbone(torch, X_np, y_np, init):
    nn = torch.nn
    F = torch.nn.functional
    backbone = nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU())
    head = nn.Linear(16, 3)
    model = nn.ModuleDict({"backbone": backbone, "head": head})
    init = start_from(torch, model, init)
    for p in model["backbone"].parameters():
        p.requires_grad = False
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(trainable, lr=0.5)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[2, 3], gamma=0.1)
    X, y = torch.from_numpy(X_np), torch.from_numpy(y_np)
    losses, lrs = [], []
    for epoch in range(4):
        optimizer.zero_grad()
        loss = F.cross_entropy(model["head"](model["backbone"](X)), y, reduction="mean")
        loss.backward()
        torch.nn.utils.clip_grad_value_(trainable, clip_value=0.05)
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
        lrs.append(scheduler.get_last_lr()[0])
    return {"init": init, "losses": losses, "lrs": lrs, "final": model.state_dict(),
            "backbone_grad_is_none": [p.grad is None for p in backbone.parameters()],
            "n_trainable": sum(p.numel() for p in trainable),
            "head_grad": head.weight.grad}


def test_finetune_with_frozen_backbone_matches_torch():
    X, y = _data(32)
    got, want = run_both(finetune_frozen_backbone, X, y)
    assert got["backbone_grad_is_none"] == [True] * 4


# -- printing ------------------------------------------------------------------------------------

def printing(torch, init):
    nn = torch.nn
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Dropout(0.2), nn.Linear(3, 1, bias=False),
                          nn.Sigmoid())

    def strip(s):
        return s.replace("dlbasic", "torch")
    return {"model": strip(str(model)),
            "tensor": strip(str(torch.tensor([[1.0, 2.5], [-3.0, 4.0]]))),
            "int_tensor": strip(str(torch.tensor([1, 2, 3]))),
            "scalar": strip(str(torch.tensor(0.5))),
            "f64": strip(str(torch.tensor([1.5], dtype=torch.float64))),
            "grad_tensor": strip(str(torch.tensor([1.0, 2.0], requires_grad=True))),
            "bool": strip(str(torch.tensor([True, False]))),
            "size": strip(str(torch.zeros(2, 3).shape)),
            "dtype": strip(str(torch.float32)),
            "fstring": f"loss {torch.tensor(0.123456).item():.4f}"}


def test_printing_a_model_and_tensors_matches_torch():
    run_both(printing)


# -- everyday snippets: the rest of the API a training script touches -------------------------
# Each snippet is a function of the library; its result must agree between torch and dlbasic.

SNIPPETS = []


def check(fn):
    SNIPPETS.append(fn)
    return fn


@check
def device_idiom(torch):
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.backends.cudnn.benchmark = True
    m = torch.nn.Linear(2, 2).to(device)
    x = torch.ones(3, 2).to(device, non_blocking=True)
    return [str(device), m(x).shape, x.device.type, m.to("cpu") is m,
            next(m.parameters()).device.type]


@check
def classic_accuracy(torch):
    out = torch.tensor([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    labels = torch.tensor([1, 0, 0])
    _, predicted = torch.max(out.data, 1)
    correct = (predicted == labels).sum().item()
    pred = out.data.max(1, keepdim=True)[1]
    c2 = pred.eq(labels.view_as(pred)).sum().item()
    return [correct, c2, labels.size(0), torch.max(out, torch.tensor(0.5)), out.argmax(),
            out.argmax(dim=1, keepdim=True)]


@check
def sum_tuple_dims(torch):
    x = torch.arange(24.).view(2, 3, 4)
    return [x.sum(dim=(1, 2)), x.mean((0, 2)), torch.sum(x, (0,), keepdim=True), x.var((0, 1)),
            x.amax(dim=(0, 2))]


@check
def creation_dtypes(torch):
    return [torch.full((2, 3), 7).dtype, torch.tensor(3).dtype, torch.tensor(3.0).dtype,
            torch.zeros(3, dtype=torch.bool),
            torch.tensor(np.float64(2.0)).dtype, torch.tensor([np.float32(1.0)]).dtype,
            torch.ones(2, 3, dtype=torch.int32) * 2.5,
            torch.empty(2, 3).shape, torch.eye(3), torch.linspace(0, 1, 5),
            torch.full_like(torch.zeros(2), 3.0),
            torch.arange(5, dtype=torch.float32), torch.tensor([1, 2]).float().mean()]


@check
def grad_mode(torch):
    w = torch.ones(2, requires_grad=True)
    @torch.no_grad()
    def f(x):
        return x * 2
    with torch.set_grad_enabled(False):
        a = w * 3
    with torch.inference_mode():
        b = w * 3
    with torch.enable_grad():
        c = w * 3
    return [f(w).requires_grad, a.requires_grad, b.requires_grad, c.requires_grad,
            torch.is_grad_enabled()]


@check
def module_api(torch):
    nn = torch.nn
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList([nn.Linear(3, 3) for _ in range(2)])
            self.scale = nn.Parameter(torch.ones(3))
            self.plist = nn.ParameterList([nn.Parameter(torch.zeros(2))])
        def forward(self, x):
            for l in self.layers:
                x = l(x) * self.scale
            return x
    b = Block()
    names = [n for n, _ in b.named_modules()]
    kids = [type(c).__name__ for c in b.children()]
    b.requires_grad_(False)
    rg = [p.requires_grad for p in b.parameters()]
    b.requires_grad_(True)
    b(torch.ones(1, 3)).sum().backward()
    b.zero_grad()
    g = [p.grad for p in b.parameters()]
    sd = b.state_dict()
    res = b.load_state_dict({k: v for k, v in sd.items() if "scale" not in k}, strict=False)
    b2 = copy.deepcopy(b)
    b2.layers[0].weight.data.fill_(1.0)
    same = torch.equal(b.layers[0].weight, b2.layers[0].weight)
    return [names, kids, rg, g, list(res.missing_keys), list(res.unexpected_keys), same,
            len(b.layers), list(sd.keys()),
            sum(1 for _ in b.modules()), isinstance(b.scale, torch.Tensor), type(b.scale).__name__]


@check
def schedulers(torch):
    nn = torch.nn
    out = []
    def mk():
        return torch.optim.SGD(nn.Linear(2, 2).parameters(), lr=0.1, momentum=0.9)
    for make in [lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda e: 0.9 ** e),
                 lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.8),
                 lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.5, total_steps=10),
                 lambda o: torch.optim.lr_scheduler.LinearLR(o, start_factor=0.1, total_iters=4),
                 lambda o: torch.optim.lr_scheduler.SequentialLR(
                     o, [torch.optim.lr_scheduler.LinearLR(o, start_factor=0.1, total_iters=3),
                         torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=5)],
                     milestones=[3]),
                 lambda o: torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=3),
                 ]:
        o = mk()
        s = make(o)
        lrs = []
        for _ in range(8):
            o.step(); s.step(); lrs.append(o.param_groups[0]["lr"])
        out.append(lrs)
    o = mk()
    s = torch.optim.lr_scheduler.ReduceLROnPlateau(o, "min", factor=0.5, patience=1)
    lrs = []
    for v in [1.0, 0.9, 0.95, 0.96, 0.97, 0.5, 0.6, 0.7]:
        s.step(v); lrs.append(o.param_groups[0]["lr"])
    out.append(lrs)
    o.param_groups[0]["lr"] = 0.01
    o.add_param_group({"params": [nn.Parameter(torch.zeros(2))], "lr": 0.3})
    out.append([g["lr"] for g in o.param_groups])
    out.append(sorted(o.param_groups[1].keys()))
    return out


@check
def data_utils(torch):
    D = torch.utils.data
    class MyDS(D.Dataset):
        def __init__(self):
            self.x = np.arange(20, dtype=np.float32).reshape(10, 2)
        def __len__(self):
            return len(self.x)
        def __getitem__(self, i):
            return self.x[i], int(i % 3), {"id": i, "v": float(i)}
    ds = MyDS()
    batches = list(D.DataLoader(ds, batch_size=4, drop_last=True))
    tr, va = D.random_split(ds, [8, 2], generator=torch.Generator().manual_seed(0))
    fr = D.random_split(range(10), [0.7, 0.3])
    sub = D.Subset(ds, [1, 3])
    b0 = batches[0]
    return [len(batches), b0[0], b0[1], b0[0].dtype, b0[1].dtype, b0[2]["id"], b0[2]["v"],
            b0[2]["v"].dtype, len(tr), len(va),
            [len(f) for f in fr], sub[1][1], len(D.DataLoader(ds, batch_size=3)),
            len(D.DataLoader(ds, batch_size=3).dataset)]


@check
def functional_misc(torch):
    F = torch.nn.functional
    x = torch.tensor([[1.0, -2.0, 3.0], [0.5, 0.0, -1.0]])
    y = torch.tensor([2, 0])
    logits3 = torch.arange(24.).view(2, 3, 4).sin()
    t3 = torch.tensor([[0, 1, 2, 1], [2, 2, 0, -100]])
    return [F.normalize(x, dim=1), F.pad(x, (1, 2)), F.pad(x, (1, 1, 0, 1), value=-1.0),
            F.dropout(x, 0.5, training=False),
            F.cross_entropy(x, y, reduction="none"),
            F.cross_entropy(x, y, weight=torch.tensor([1.0, 2.0, 0.5])),
            F.cross_entropy(x, torch.tensor([2, -100])), F.cross_entropy(logits3, t3),
            F.cross_entropy(x, y, ignore_index=0, label_smoothing=0.2),
            F.cross_entropy(x, F.softmax(x * 2, dim=1)),
            F.mse_loss(x, x * 0.5), F.l1_loss(x, x.flip(0)), F.smooth_l1_loss(x, x * 0),
            F.huber_loss(x, x * 0, delta=0.5),
            
            F.cosine_similarity(x, x.flip(1), dim=1), F.linear(x, torch.ones(2, 3),
                                                               torch.tensor([1.0, 0.0])),
            F.softplus(x), F.silu(x), F.elu(x), F.leaky_relu(x, 0.2), F.hardtanh(x),
            F.log_softmax(x, dim=-1),
            F.binary_cross_entropy_with_logits(x, (x > 0).float()), F.relu6(x * 3),
            F.softmax(x, dim=0), F.tanh(x),
            F.gelu(x, approximate="tanh"), F.nll_loss(F.log_softmax(x, 1), y, reduction="sum"),
            F.mish(x),
            F.embedding(torch.tensor([1, 0]), torch.eye(3))]


@check
def attention_mask(torch):
    T_ = 4
    q = torch.arange(32.).view(2, 4, 4).cos()
    att = (q @ q.transpose(-2, -1)) / math.sqrt(q.size(-1))
    mask = torch.tril(torch.ones(T_, T_))
    att = att.masked_fill(mask == 0, float("-inf"))
    att = torch.nn.functional.softmax(att, dim=-1)
    return [att, att @ q, torch.triu(torch.ones(3, 3, dtype=torch.bool), diagonal=1)]


@check
def legacy_data_update(torch):
    nn = torch.nn
    m = nn.Linear(3, 2)
    with torch.no_grad():
        m.weight.copy_(torch.arange(6.).view(2, 3) / 10)
        m.bias.fill_(0.1)
    loss = m(torch.ones(4, 3)).pow(2).mean()
    loss.backward()
    for p in m.parameters():
        p.data -= 0.1 * p.grad.data
        p.data.add_(p.grad, alpha=-0.1)
    gn = torch.norm(torch.stack([p.grad.detach().norm(2) for p in m.parameters()]), 2)
    return [m.weight, m.bias, gn, m.weight.grad.data.norm(2).item()]


@check
def numpy_interplay(torch):
    x = torch.tensor([1.0, 2.0])
    return [x * np.float32(2), (x * np.float64(2)).dtype, x + 1, 2 ** x, x ** 2, float(x.sum()),
            int(x[1]), x.numpy().dtype,
            torch.from_numpy(np.array([1, 2], dtype=np.int32)).dtype,
            torch.as_tensor(np.ones(2)).dtype,
            torch.tensor(np.array([1.0])).dtype, x[..., None].shape, x[:, None].shape]


@check
def model_dtype(torch):
    nn = torch.nn
    m = nn.Linear(2, 1).double()
    out = m(torch.ones(1, 2, dtype=torch.float64))
    m.float()
    return [out.dtype, m.weight.dtype, next(m.parameters()).dtype]


@check
def sort_stable(torch):
    x = torch.tensor([3, 1, 2, 1, 3])
    v, i = torch.sort(x, stable=True)
    return [v, i, torch.argsort(x, descending=True, stable=True),
            torch.topk(torch.tensor([1.0, 3.0, 2.0]), k=2, largest=False)]


@check
def adam_amsgrad(torch):
    nn = torch.nn
    p = nn.Parameter(torch.tensor([1.0, -2.0, 3.0]))
    opts = [torch.optim.Adam([p], lr=0.1, amsgrad=True, weight_decay=0.1),
            torch.optim.SGD([p], lr=0.1, dampening=0.1, momentum=0.5),
            torch.optim.Adagrad([p], lr=0.1), torch.optim.AdamW([p], lr=0.1, amsgrad=True)]
    res = []
    for o in opts:
        for _ in range(3):
            o.zero_grad()
            (p ** 3).sum().backward()
            o.step()
        res.append(p.detach().clone())
    return res


@check
def clip_inf(torch):
    nn = torch.nn
    m = nn.Linear(3, 2)
    with torch.no_grad():
        m.weight.fill_(1.0); m.bias.fill_(0.5)
    m(torch.ones(2, 3)).sum().backward()
    n1 = nn.utils.clip_grad_norm_(m.parameters(), 0.5, norm_type=float("inf"))
    n2 = nn.utils.clip_grad_norm_(m.parameters(), 0.1, norm_type=2.0)
    vec = nn.utils.parameters_to_vector(m.parameters())
    return [n1, n2, m.weight.grad, m.bias.grad, vec]


@check
def index_dup_grad(torch):
    w = torch.arange(5.).requires_grad_()
    idx = torch.tensor([0, 2, 2, 4, 0])
    y = w[idx] * torch.arange(5.)
    y.sum().backward()
    e = torch.nn.Embedding(4, 2)
    with torch.no_grad():
        e.weight.copy_(torch.arange(8.).view(4, 2))
    e(torch.tensor([[1, 1], [3, 1]])).pow(2).sum().backward()
    return [w.grad, e.weight.grad]


@check
def setitem_dup(torch):
    x = torch.zeros(5)
    idx = torch.tensor([1, 1, 3])
    x[idx] += 1.0
    y = torch.zeros(5)
    y.index_add_(0, idx, torch.ones(3))
    z = torch.zeros(3, 4)
    z[:, 1:3] = torch.tensor([5.0, 6.0])
    z[z > 5] += 10
    return [x, y, z]


@check
def setitem_grad(torch):
    a = torch.arange(6.).requires_grad_()
    b = a * 2
    b[1:3] = 0
    b[a > 4] = a[a > 4] * 10
    b.sum().backward()
    return [b, a.grad]


@check
def view_inplace(torch):
    x = torch.arange(6.).view(2, 3)
    v = x[0]
    v += 100
    t = x.t()
    t[0, 1] = -1
    y = x.view(-1)
    y.mul_(2)
    s = x[:, 1]
    s.zero_()
    return [x, v, t, y]


@check
def expand_then_sum_grad(torch):
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = x.unsqueeze(1).expand(-1, 3) * torch.arange(3.)
    y.sum().backward()
    return [y, x.grad]


@check
def reductions_edge(torch):
    x = torch.tensor([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]], requires_grad=True)
    m = x.max(dim=1)
    (m.values.sum() + x.max() * 2 + x.amax(1).sum()).backward()
    s = torch.tensor([5.0]).std()
    return [m.values, m.indices, x.grad, s, torch.tensor([]).sum(),
            torch.tensor([1., 2.]).var(unbiased=True),
            torch.tensor([[1., 2.], [3., 4.]]).median(), torch.tensor([3., 1., 2., 4.]).median()]


@check
def scatter_reduce(torch):
    src = torch.arange(1., 7.).view(2, 3)
    idx = torch.tensor([[0, 1, 0], [1, 0, 1]])
    a = torch.zeros(2, 3).scatter_(0, idx, src)
    b = torch.ones(2, 3).scatter_add_(0, idx, src)
    c = torch.zeros(3, 5).scatter_(1, torch.tensor([[0], [4], [2]]), 1.0)
    d = torch.ones(2, 3).scatter_(0, idx, src, reduce="multiply")
    return [a, b, c, d]


@check
def ce_variants(torch):
    F = torch.nn.functional
    logits = torch.tensor([[2.0, -1.0, 0.5], [0.1, 0.2, 0.3], [1.0, 1.0, -5.0]], requires_grad=True)
    y = torch.tensor([0, 2, -100])
    w = torch.tensor([0.5, 1.0, 2.0])
    outs = []
    for kw in [dict(), dict(weight=w), dict(label_smoothing=0.3),
               dict(weight=w, label_smoothing=0.3),
               dict(reduction="sum", label_smoothing=0.1),
               dict(reduction="none", weight=w, label_smoothing=0.2)]:
        l = F.cross_entropy(logits, y, **kw)
        g, = torch.autograd.grad(l.sum(), logits)
        outs.append([l, g])
    return outs


@check
def bce_variants(torch):
    F = torch.nn.functional
    x = torch.tensor([[3.0, -2.0], [0.0, 50.0]], requires_grad=True)
    t = torch.tensor([[1.0, 0.0], [0.5, 0.0]])
    outs = [F.binary_cross_entropy_with_logits(x, t, pos_weight=torch.tensor([3.0, 1.0])),
            F.binary_cross_entropy_with_logits(x, t, weight=torch.tensor([1.0, 2.0]),
                                               reduction="none"),
            F.binary_cross_entropy(torch.sigmoid(x), t),
            F.binary_cross_entropy(torch.tensor([0.0, 1.0]), torch.tensor([1.0, 1.0]))]
    g, = torch.autograd.grad(outs[0], x)
    return outs + [g]


@check
def optim_semantics(torch):
    nn = torch.nn
    res = []
    for make in [lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.01,
                                           nesterov=True),
                 lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.5, maximize=True),
                 lambda p: torch.optim.Adam(p, lr=0.1, weight_decay=0.01),
                 lambda p: torch.optim.AdamW(p, lr=0.1),
                 lambda p: torch.optim.RMSprop(p, lr=0.01, momentum=0.5, centered=True,
                                               weight_decay=0.1),
                 lambda p: torch.optim.Adagrad(p, lr=0.1, lr_decay=0.01, weight_decay=0.1)]:
        w = nn.Parameter(torch.tensor([1.0, -2.0, 0.5]))
        b = nn.Parameter(torch.tensor([0.3]))
        o = make([w, b])
        for i in range(4):
            o.zero_grad()
            loss = (w ** 2).sum() + (b * w).sum() * (i - 1)
            loss.backward()
            if i == 2:
                b.grad = None       # a param without grad this step is skipped
            o.step()
        res.append([w.detach().clone(), b.detach().clone()])
    return res


@check
def zero_grad_semantics(torch):
    nn = torch.nn
    m = nn.Linear(2, 1)
    o = torch.optim.SGD(m.parameters(), lr=0.1)
    m(torch.ones(1, 2)).sum().backward()
    o.zero_grad()
    a = m.weight.grad is None
    m(torch.ones(1, 2)).sum().backward()
    o.zero_grad(set_to_none=False)
    m(torch.ones(1, 2)).sum().backward()
    m(torch.ones(1, 2)).sum().backward()     # accumulate
    return [a, m.weight.grad, m.bias.grad]


@check
def dtype_promotion_numbers(torch):
    x = torch.tensor([1, 2, 3])
    f = torch.tensor([1.0, 2.0], dtype=torch.float64)
    return [(x / 2).dtype, x / 2, (x * 1.5).dtype, (x + True).dtype, (x > 1).sum().dtype,
            x.float().mean().dtype, x.sum().dtype, (f * torch.tensor(2.0)).dtype,
            (torch.tensor(2.0) * x).dtype,
            x.mean(dtype=torch.float32) if True else None, (x // 2).dtype, (x ** 2).dtype,
            torch.tensor([True]).sum().dtype,
            (torch.ones(2, dtype=torch.int32) + torch.ones(2, dtype=torch.int64)).dtype,
            (torch.ones(2, dtype=torch.uint8) + 1).dtype, torch.arange(3).float().dtype,
            (torch.tensor([1.0]) + np.float64(1.0)).dtype]


@check
def module_train_eval_dropout(torch):
    nn = torch.nn
    m = nn.Sequential(nn.Linear(50, 50), nn.Dropout(0.5))
    m.eval()
    x = torch.ones(4, 50)
    a = m(x)
    b = m(x)
    m.train()
    c = m(x)
    frac = (c == 0).float().mean().item()
    return [torch.equal(a, b), 0.35 < frac < 0.65, m[1].training]


@check
def batchnorm1d_train_eval(torch):
    nn = torch.nn
    bn = nn.BatchNorm1d(3, momentum=0.3)
    x = torch.arange(12.).view(4, 3).sin()
    y1 = bn(x)
    y2 = bn(x * 2)
    bn.eval()
    y3 = bn(x)
    return [y1, y2, y3, bn.running_mean, bn.running_var, bn.num_batches_tracked,
            list(bn.state_dict().keys())]


@check
def layer_ops(torch):
    nn = torch.nn
    torch.manual_seed(0)
    ln = nn.LayerNorm([2, 3], elementwise_affine=True)
    x = torch.arange(12.).view(2, 2, 3).cos()
    fl = nn.Flatten(0, 1)
    uf = nn.Unflatten(1, (3, 1))
    return [ln(x), fl(x).shape, uf(torch.ones(2, 3)).shape, nn.Softmax(dim=1)(x[0]),
            nn.LogSoftmax(1)(x[0])]


@check
def state_dict_types(torch):
    nn = torch.nn
    m = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    sd = m.state_dict()
    return [list(sd.keys()), [v.requires_grad for v in sd.values()], type(sd).__name__,
            [v.dtype for v in sd.values()], sd["0.weight"].data_ptr() == m[0].weight.data_ptr()]


@check
def clamp_tensor(torch):
    x = torch.tensor([-2.0, 0.5, 3.0], requires_grad=True)
    lo = torch.tensor([-1.0, 1.0, 0.0])
    y = torch.clamp(x, min=torch.tensor([-1.0, 1.0, 0.0]), max=torch.tensor(2.0))
    y.sum().backward()
    return [y, x.grad, torch.clamp(torch.tensor([1, 5, 9]), 2, 6), x.clamp(max=0)]


@check
def where_grad(torch):
    x = torch.tensor([-1.0, 0.0, 4.0], requires_grad=True)
    y = torch.where(x > 0, torch.sqrt(x.clamp(min=1e-12)), torch.zeros_like(x))
    y.sum().backward()
    return [y, x.grad]


@check
def tolist_types(torch):
    return [torch.tensor([1.5, 2.0]).tolist(), torch.tensor([[1, 2]]).tolist(),
            torch.tensor(True).item(),
            torch.tensor([1, 0]).bool().tolist(), type(torch.tensor(3).item()).__name__,
            type(torch.tensor(3.0).item()).__name__]


@check
def kl_div_cosine_similarity_softmax(torch):
    F = torch.nn.functional
    x = torch.tensor([[1.0, -2.0, 3.0], [0.5, 0.0, -1.0]], requires_grad=True)
    t = torch.tensor([[0.2, 0.1, 0.7], [0.5, 0.25, 0.25]], requires_grad=True)
    outs0 = F.kl_div(F.log_softmax(x, 1), torch.tensor([[0.2, 0.0, 0.8], [1.0, 0.0, 0.0]]),
                     reduction="none")
    lp = F.log_softmax(x, 1)
    outs = [F.kl_div(lp, t, reduction=r) for r in ("batchmean", "sum", "mean", "none")]
    outs.append(F.kl_div(lp, F.log_softmax(x.flip(0), 1), reduction="batchmean", log_target=True))
    outs.append(torch.nn.KLDivLoss(reduction="batchmean")(lp, t))
    g = torch.autograd.grad(sum(o.sum() for o in outs), [x, t])
    cs = [F.cosine_similarity(x, x.flip(1)), F.cosine_similarity(x, torch.zeros(3), dim=-1),
          torch.cosine_similarity(x[0], x[1], dim=0)]
    g2 = torch.autograd.grad(cs[0].sum(), x)
    return [outs0, outs, list(g), cs, list(g2), torch.softmax(x, dim=1), torch.log_softmax(x, 0),
            torch.softmax(x, -1, dtype=torch.float64).dtype]


@check
def memory_sharing(torch):
    a = np.zeros(3, dtype=np.float32)
    t = torch.from_numpy(a); a[0] = 5
    u = torch.as_tensor(a); a[1] = 6
    x = torch.ones(3); n = x.numpy(); n[2] = 9
    d = x.detach(); d[0] = -1
    c = x.clone(); c[1] = 100
    r = x.reshape(3, 1); r[1, 0] = 7
    tt = torch.tensor(a); a[2] = 8
    return [t, u, x, tt]


@check
def view_noncontig(torch):
    x = torch.arange(6.).view(2, 3)
    try:
        x.t().view(-1); ok = "no error"
    except RuntimeError:
        ok = "RuntimeError"
    return [ok, x.t().reshape(-1), x.t().contiguous().view(-1), x.t().is_contiguous()]


@check
def optimizer_param_identity(torch):
    nn = torch.nn
    m = nn.Linear(2, 2)
    w = m.weight
    sd = m.state_dict()
    opt = torch.optim.SGD(m.parameters(), lr=1.0)
    m(torch.ones(1, 2)).sum().backward()
    opt.step()
    shared = torch.equal(sd["weight"], m.weight)
    same_obj = w is m.weight
    m.load_state_dict({"weight": torch.zeros(2, 2), "bias": torch.zeros(2)})
    same_after_load = w is m.weight
    opt.zero_grad()
    m(torch.ones(1, 2)).sum().backward()
    opt.step()
    m.to(torch.float64)
    dt = w.dtype
    return [shared, same_obj, same_after_load, m.weight, m.bias, dt, m.weight is w]


@check
def module_attrs(torch):
    nn = torch.nn
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.t = torch.ones(2)            # plain tensor attribute
            self.p = nn.Parameter(torch.zeros(2), requires_grad=False)
            self.register_buffer("b", torch.ones(1), persistent=False)
            self.lin = nn.Linear(2, 2)
            self.lin2 = None
        def forward(self, x):
            return self.lin(x) + self.t
    m = M()
    m.lin = nn.Linear(2, 2)        # replace
    del m.lin2
    return [list(m.state_dict().keys()), [n for n, _ in m.named_parameters()],
            [n for n, _ in m.named_buffers()],
            m.p.requires_grad, hasattr(m, "lin2"), [n for n, _ in m.named_children()]]


@check
def grad_accumulation(torch):
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    (x * 2).sum().backward()
    (x ** 2).sum().backward()
    g1 = x.grad.clone()
    with torch.no_grad():
        with torch.enable_grad():
            y = x * 3
        z = x * 3
    return [g1, y.requires_grad, z.requires_grad]


@check
def sequential_api(torch):
    nn = torch.nn
    from collections import OrderedDict
    s = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 3)), ("act", nn.ReLU())]))
    s.add_module("out", nn.Linear(3, 1))
    s.append(nn.Sigmoid())
    return [str(s), len(s), type(s[1]).__name__, type(s[-1]).__name__, len(s[:2]),
            [n for n, _ in s.named_children()],
            list(s.state_dict().keys()), type(s.fc).__name__]


@check
def conv_idioms(torch):
    nn = torch.nn
    F = torch.nn.functional
    x = torch.arange(2 * 3 * 6 * 6.).view(2, 3, 6, 6).sin()
    conv = nn.Conv2d(3, 4, 3, stride=2, padding=1)
    with torch.no_grad():
        conv.weight.copy_(torch.arange(4 * 3 * 9.).view(4, 3, 3, 3).cos() / 5)
        conv.bias.fill_(0.1)
    y = conv(x)
    pools = [F.max_pool2d(y, 2), F.avg_pool2d(y, 2), F.adaptive_avg_pool2d(y, 1),
             nn.AdaptiveAvgPool2d((1, 1))(y).flatten(1),
             y.mean(dim=(2, 3)), F.relu(y).amax(dim=(2, 3)),
             nn.AvgPool2d(3, stride=1, padding=1)(y)]
    y.sum().backward() if y.requires_grad else None
    return [y, pools, conv.weight.grad, str(conv)]


@check
def bn2d_momentum_none(torch):
    nn = torch.nn
    bn = nn.BatchNorm2d(2, momentum=None, affine=False)
    x = torch.arange(2 * 2 * 3 * 3.).view(2, 2, 3, 3).cos()
    bn(x); bn(x * 2)
    bn.eval()
    return [bn.running_mean, bn.running_var, bn(x), list(bn.state_dict().keys())]


@check
def losses_modules(torch):
    nn = torch.nn
    x = torch.tensor([[0.2, 1.5], [-0.3, 0.1]])
    y = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    return [nn.MSELoss(reduction="sum")(x, y), nn.L1Loss()(x, y), nn.SmoothL1Loss(beta=0.5)(x, y),
            nn.HuberLoss(delta=0.5)(x, y),
            nn.BCEWithLogitsLoss()(x, y), nn.BCELoss()(torch.sigmoid(x), y),
            nn.NLLLoss()(torch.log_softmax(x, 1), torch.tensor([1, 0])),
            nn.CrossEntropyLoss(ignore_index=1)(x, torch.tensor([1, 0]))]


@check
def random_split_fraction(torch):
    D = torch.utils.data
    ds = D.TensorDataset(torch.arange(10))
    a, b = D.random_split(ds, [0.75, 0.25])
    s = D.SubsetRandomSampler([1, 2, 3])
    w = D.WeightedRandomSampler([0.1, 0.9], num_samples=5, replacement=True)
    cc = D.ConcatDataset([ds, ds])
    return [len(a), len(b), sorted(list(s)), len(list(w)), len(cc), cc[12][0]]


@check
def tensor_misc(torch):
    x = torch.arange(12.).view(3, 4)
    return [x.sum(0).tolist(), x.shape == (3, 4), x.shape == torch.Size([3, 4]), list(x.shape),
            x.numel(), x.dim(), x.ndim, len(x),
            x[1:].size(), x.size()[1], x.t().shape, x.flatten().shape, x.view(-1, 2).shape,
            x.unsqueeze(0).shape, x.squeeze().shape,
            x.transpose(0, 1).shape, torch.Size([2, 3]).numel(), x.new_ones(2).dtype, x.mT.shape,
            x.element_size(),
            x.stride(), x.t().stride(), x.type(), x.long().type(), x.is_floating_point(),
            torch.is_tensor(x), x.requires_grad, x.is_leaf,
            x.grad is None, x.device.type, str(x.device)]


@check
def half_and_int_training_errors(torch):
    res = []
    for f in [lambda: torch.zeros(2, dtype=torch.long).requires_grad_(),
              lambda: torch.nn.functional.cross_entropy(torch.zeros(2, 3), torch.zeros(2)),
              lambda: torch.nn.Linear(2, 2)(torch.zeros(2, 2, dtype=torch.float64)),
              lambda: torch.nn.Linear(3, 2)(torch.zeros(2, 2)),
              lambda: torch.ones(2, 3) @ torch.ones(2, 3),
              lambda: torch.cat([torch.ones(2, 3), torch.ones(3, 2)]),
              lambda: torch.ones(3).view(2, 2),
              lambda: torch.ones(2)[5],
              lambda: torch.tensor([1.0, 2.0]).item(),
              lambda: torch.nn.functional.nll_loss(torch.zeros(2, 3), torch.tensor([0, 3])),
              ]:
        try:
            f(); res.append("no error")
        except Exception as e:
            res.append(type(e).__name__)
    return res


@check
def sort_ties(torch):
    # topk/sort(stable=False) tie order is unspecified in torch; stable sorts and values are not
    x = torch.tensor([3.0, 1.0, 2.0, 1.0, 3.0, 2.0])
    return [list(torch.sort(x, descending=True, stable=True)), list(torch.sort(x, stable=True)),
            x.argsort(stable=True),
            x.topk(3).values, list(x.max(0)), x.argmax(), x.argmin(), list(x.min(0)),
            list(torch.unique(x, return_inverse=True, return_counts=True)),
            torch.unique(x, sorted=True)]


@check
def optimizer_state_roundtrip(torch):
    nn = torch.nn
    fd, path = tempfile.mkstemp(suffix=".pt")
    os.close(fd)
    def make():
        m = nn.Linear(3, 2)
        with torch.no_grad():
            m.weight.copy_(torch.arange(6.).view(2, 3) / 10); m.bias.zero_()
        o = torch.optim.Adam(m.parameters(), lr=0.1)
        s = torch.optim.lr_scheduler.StepLR(o, step_size=1, gamma=0.5)
        return m, o, s
    x = torch.arange(12.).view(4, 3).cos()
    def steps(m, o, s, n):
        out = []
        for _ in range(n):
            o.zero_grad()
            loss = m(x).pow(2).mean()
            loss.backward()
            o.step()
            s.step()
            out.append(loss.item())
        return out
    m, o, s = make()
    a = steps(m, o, s, 2)
    torch.save({"m": m.state_dict(), "o": o.state_dict(), "s": s.state_dict()}, path)
    b = steps(m, o, s, 2)
    m2, o2, s2 = make()
    ck = torch.load(path)
    m2.load_state_dict(ck["m"]); o2.load_state_dict(ck["o"]); s2.load_state_dict(ck["s"])
    c = steps(m2, o2, s2, 2)
    os.remove(path)
    group_keys = sorted(o.state_dict()["param_groups"][0].keys())
    return [a, b, c, o2.param_groups[0]["lr"], sorted(ck["o"].keys()),
            sorted(ck["o"]["param_groups"][0].keys()) == group_keys, s2.get_last_lr()]


@check
def loader_variants(torch):
    D = torch.utils.data
    ds = D.TensorDataset(torch.arange(10.), torch.arange(10))
    l1 = D.DataLoader(ds, batch_size=4, drop_last=True)
    l2 = D.DataLoader(ds, batch_size=None)
    l3 = D.DataLoader(ds, batch_size=3, collate_fn=lambda batch: [b[0] * 2 for b in batch])
    l4 = D.DataLoader(ds, sampler=D.SequentialSampler(ds), batch_size=5)
    l5 = D.DataLoader(ds, batch_sampler=D.BatchSampler(D.SequentialSampler(ds), 3, False))
    first = next(iter(l1))
    return [len(l1), len(l2), len(l3), len(l4), len(l5), first, next(iter(l2)), next(iter(l3)),
            [i for i, _ in enumerate(l4, start=1)],
            [b[1].tolist() for b in l5], len(l1.dataset), l1.batch_size]


@check
def inplace_dtype_errors(torch):
    res = []
    img = torch.tensor([[0, 128, 255]], dtype=torch.uint8)
    res.append(img.float().div_(255))
    try:
        img.div_(255); res.append("no error")
    except RuntimeError:
        res.append("RuntimeError")
    i = torch.tensor([1, 2])
    try:
        i += 0.5; res.append(i)
    except RuntimeError:
        res.append("RuntimeError")
    return res


@check
def init_distributions(torch):
    nn = torch.nn
    w = torch.empty(200, 300)
    nn.init.trunc_normal_(w, std=0.02)
    o = torch.empty(6, 4)
    nn.init.orthogonal_(o)
    u = torch.empty(1000)
    nn.init.uniform_(u, -0.1, 0.1)
    n = torch.empty(10000).normal_(0, 2)
    return [bool(w.abs().max() <= 0.04), abs(w.std().item() - 0.0176) < 0.002,
            torch.allclose(o.t() @ o, torch.eye(4), atol=1e-5),
            bool(u.abs().max() <= 0.1), abs(n.std().item() - 2) < 0.1,
            nn.init.calculate_gain("relu"), nn.init.calculate_gain("leaky_relu", 0.2),
            nn.init.calculate_gain("tanh")]


@check
def residual_block_bn(torch):
    nn = torch.nn
    F = torch.nn.functional
    class Basic(nn.Module):
        expansion = 1
        def __init__(self, cin, cout, stride=1):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.shortcut = nn.Sequential()
            if stride != 1 or cin != cout:
                self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                              nn.BatchNorm2d(cout))
        def forward(self, x):
            out = F.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            out += self.shortcut(x)
            return F.relu(out)
    torch.manual_seed(0)
    b = Basic(2, 4, stride=2)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for i, p in enumerate(b.parameters()):
            p.copy_(torch.linspace(-0.5, 0.5, p.numel()).view(p.shape).flip(0) * (1 + i % 3))
    x = torch.arange(2 * 2 * 6 * 6.).view(2, 2, 6, 6).sin()
    y = b(x)
    y.pow(2).mean().backward()
    b.eval()
    with torch.no_grad():
        ye = b(x)
    return [y, ye, [p.grad for p in b.parameters()], b.bn1.running_var, list(b.state_dict().keys())]


def outcome(fn):
    """("ok", result) or (exception type name,): the two libraries must agree on which."""
    try:
        r = fn()
        return ("ok", r)
    except Exception as e:
        return (type(e).__name__,)


@check
def inplace_after_save(torch):
    F = torch.nn.functional
    res = []
    def case(op, mod):
        def run():
            x = torch.tensor([0.5, -1.0, 2.0], requires_grad=True)
            h = x * 1.0
            y = op(h)
            mod(y, h)
            y.sum().backward()
            return x.grad
        return outcome(run)
    for name, op, mod in [
        ("sigmoid_out", torch.sigmoid, lambda y, h: y.mul_(2)),
        ("exp_out", torch.exp, lambda y, h: y.add_(1)),
        ("tanh_out", torch.tanh, lambda y, h: y.relu_()),
        ("mul_input", lambda h: h * h, lambda y, h: h.add_(1)),
        ("relu_inplace_after_sigmoid", torch.sigmoid, lambda y, h: F.relu(y, inplace=True)),
        ("add_input", lambda h: h + 1, lambda y, h: h.mul_(3)),
        ("pow_input", lambda h: h ** 2, lambda y, h: h.zero_()),
        ("relu_out_mod", torch.relu, lambda y, h: y.mul_(3)),
        ("softmax_out", lambda h: torch.nn.functional.softmax(h, 0), lambda y, h: y.mul_(2)),
        ("linear_input",
         lambda h: torch.nn.functional.linear(h[None], torch.ones(2, 3, requires_grad=True)),
         lambda y, h: h.add_(1)),
        ("getitem_base", lambda h: h[1:] * 2, lambda y, h: h.mul_(2)),
        ("matmul_input", lambda h: h @ h, lambda y, h: h.mul_(2)),
    ]:
        res.append([name, case(op, mod)])
    return res


@check
def double_backward_error(torch):
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    z = (x.exp() * x).sum()
    z.backward()
    return [x.grad, outcome(lambda: z.backward())]


@check
def hooks(torch):
    nn = torch.nn
    feats = {}
    m = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    with torch.no_grad():
        for i, p in enumerate(m.parameters()):
            p.copy_(torch.linspace(-1, 1, p.numel()).view(p.shape) * (i + 1))
    h = m[1].register_forward_hook(lambda mod, inp, out: feats.__setitem__("relu", out.detach()))
    pre = m[0].register_forward_pre_hook(lambda mod, inp: (inp[0] * 2,))
    x = torch.tensor([[1.0, -0.5, 0.25]], requires_grad=True)
    x.register_hook(lambda g: g * 10)
    out = m(x)
    out.sum().backward()
    h.remove(); pre.remove()
    out2 = m(x)
    return [feats["relu"], out, out2, x.grad]


@check
def functional_dropout_eval(torch):
    nn = torch.nn
    F = torch.nn.functional
    class M(nn.Module):
        def forward(self, x):
            return F.dropout(x, p=0.5, training=self.training)
    m = M()
    m.eval()
    x = torch.ones(100)
    a = m(x)
    m.train()
    b = m(x)
    return [a, bool(((b == 0) | (b == 2)).all()), 20 < int((b == 0).sum()) < 80]


@check
def no_grad_params(torch):
    nn = torch.nn
    m = nn.Linear(2, 2)
    with torch.no_grad():
        y = m(torch.ones(1, 2))
    return [y.requires_grad, y.grad_fn is None, m(torch.ones(1, 2)).requires_grad]


@check
def common_mistakes_fail_alike(torch):
    F = torch.nn.functional
    nn = torch.nn
    logits = torch.tensor([[1.0, 2.0, 0.5], [0.1, -1.0, 0.3]])
    cases = [
        lambda: F.cross_entropy(logits, torch.tensor([1, 2], dtype=torch.int32)),
        lambda: F.cross_entropy(logits.double(), torch.tensor([1, 2])),
        lambda: F.mse_loss(logits, torch.ones(2, 3, dtype=torch.long)),
        lambda: F.mse_loss(logits, logits.double()),
        lambda: nn.Linear(3, 2)(torch.ones(2, 3, dtype=torch.long)),
        lambda: torch.tensor([1, 2, 3]).mean(),
        lambda: torch.tensor([1, 2]) / torch.tensor([2, 2]),
        lambda: torch.tensor([]).max(),
        lambda: F.cross_entropy(logits, torch.tensor([1.0, 2.0])),
        lambda: F.nll_loss(logits, torch.tensor([[1], [2]])),
        lambda: logits.sum(dim=2),
        lambda: torch.cat([logits, logits.double()]).dtype,
        lambda: torch.stack([logits, logits[:1]]),
        lambda: logits.view(3, -1, 2),
        lambda: F.softmax(logits, dim=2),
        lambda: logits.double() @ logits.t(),
        lambda: logits.masked_fill(torch.tensor([1, 0, 1]), 0.0),
        lambda: logits[torch.tensor([0.0])],
        lambda: torch.zeros(2, 3).scatter_(1, torch.tensor([[0], [1]], dtype=torch.int32), 1.0),
        lambda: torch.gather(logits, 1, torch.tensor([[0], [5]])),
    ]
    return [outcome(c) for c in cases]


@check
def float64_training(torch):
    nn = torch.nn
    F = torch.nn.functional
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3)).to(torch.float64)
    with torch.no_grad():
        for i, p in enumerate(model.parameters()):
            p.copy_(torch.linspace(-0.7, 0.7, p.numel(),
                                   dtype=torch.float64).view(p.shape) * (i + 1))
    x = torch.arange(20, dtype=torch.float64).view(5, 4).sin()
    y = torch.tensor([0, 2, 1, 1, 0])
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for _ in range(5):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return [losses, loss.dtype, [p.dtype for p in model.parameters()], model[0].weight]


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("snippet", SNIPPETS, ids=lambda f: f.__name__)
def test_everyday_snippet_matches_torch(snippet):
    torch_.manual_seed(0)
    want = _norm(snippet(torch_))
    dlbasic.manual_seed(0)
    got = _norm(snippet(dlbasic))
    assert_same(got, want)


# -- regressions for the gaps these programs found (each failed before its fix) ---------------

def test_zero_dim_results_are_arrays_that_support_inplace_ops():
    """0-d results held NumPy scalars: ``s = x * 3; s.add_(1)`` crashed in np.copyto and
    ``x.std().numpy()`` was not an ndarray (fix: Tensor._make keeps an ndarray)."""
    for lib in (torch_, dlbasic):
        s = lib.tensor(2.0) * 3
        s.add_(1)
        running = lib.tensor([1.0, 2.0]).sum() * 0.9
        running += lib.tensor(0.3)
        std = lib.tensor([1.0, 2.0, 4.0]).std()
        assert s.item() == 7.0
        assert math.isclose(running.item(), 3.0, rel_tol=1e-6)
        assert isinstance(std.numpy(), np.ndarray) and std.numpy().shape == ()
        assert isinstance(lib.tensor(4.0).sqrt().detach().cpu().numpy(), np.ndarray)


def test_integer_indexing_gives_a_view_that_writes_through():
    """``v = x[1]; v.fill_(5)`` must change x, as in torch (an all-integer index returned a
    NumPy scalar copy, and the in-place write crashed)."""
    results = []
    for lib in (torch_, dlbasic):
        x = lib.zeros(3)
        v = x[1]
        v.fill_(5)
        x[2].add_(7)
        m = lib.zeros(2, 3)
        m[0, 2].mul_(0).add_(9)
        results.append((x.tolist(), m.tolist()))
    assert results[0] == results[1] == ([0.0, 5.0, 7.0], [[0.0, 0.0, 9.0], [0.0, 0.0, 0.0]])


def test_cuda_and_backends_namespaces_pick_the_cpu():
    """``torch.cuda.is_available()`` / ``torch.backends.cudnn.benchmark = True`` are the first
    lines of many scripts; ``dlbasic.cuda`` did not exist, so even hasattr(dlbasic, 'cuda')
    raised ModuleNotFoundError."""
    torch = dlbasic
    assert hasattr(torch, "cuda") and hasattr(torch, "backends")
    assert torch.cuda.is_available() is False and torch.cuda.device_count() == 0
    torch.cuda.manual_seed_all(0)
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.deterministic = True
    assert torch.backends.mps.is_available() is False
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    assert torch.ones(2).to(device).device.type == "cpu"
    # torch builds the device object and refuses only when memory is placed on it
    cuda = torch.device("cuda")
    assert cuda.type == "cuda" and str(cuda) == "cuda"
    with pytest.raises(RuntimeError, match="CPU only"):
        torch.ones(2).to(cuda)


def test_kl_div_gradient_and_zero_targets_match_torch():
    """F.kl_div / nn.KLDivLoss / F.cosine_similarity / torch.softmax were missing."""
    def program(torch):
        F = torch.nn.functional
        x = torch.tensor([[1.0, -2.0, 3.0], [0.5, 0.0, -1.0]], requires_grad=True)
        teacher = torch.tensor([[0.2, 0.0, 0.8], [1.0, 0.0, 0.0]])      # zeros contribute 0
        loss = torch.nn.KLDivLoss(reduction="batchmean")(torch.log_softmax(x, dim=1), teacher)
        loss.backward()
        return [loss, x.grad, F.kl_div(F.log_softmax(x, 1), teacher, reduction="none")]
    assert_same(_norm(program(dlbasic)), _norm(program(torch_)))


# -- what dlbasic does not support must fail loudly, never diverge silently -------------------

def test_unsupported_features_raise_clear_errors():
    torch = dlbasic
    a = torch.ones(2, 3, requires_grad=True)
    b = a * 2
    with pytest.raises(RuntimeError, match="in-place operations on a view"):
        b[0].mul_(3)                       # torch supports this; dlbasic refuses, loudly
    x = torch.ones(2, 3, requires_grad=True)
    with pytest.raises(RuntimeError, match="double backward through LgammaBackward0"):
        torch.autograd.grad(x.lgamma().sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="CUDA"):
        torch.nn.Linear(2, 2).cuda()
    with pytest.raises(RuntimeError, match="CUDA"):
        torch.ones(2).cuda()
