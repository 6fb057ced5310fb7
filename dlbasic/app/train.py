"""The training engine behind ``dlbasic train`` and ``python -m dlbasic.demo``.

One image-classification recipe on Fashion-MNIST, written the way a PyTorch user writes it
(model, ``CrossEntropyLoss``, an optimizer, a learning-rate schedule, ``loss.backward()``,
``optimizer.step()``), plus what a long run needs: a progress bar, per-epoch evaluation,
metrics files, curves, atomic checkpoints, exact resumption and a clean Ctrl-C.

Speed: the 70,000 images are decoded once into one float32 array and normalised; a batch is a
fancy index into it (or, with ``--workers N``, a ``DataLoader`` over a ``TensorDataset`` with
worker processes).  Augmentation (random crop with padding 2, horizontal flip) is vectorised
over the whole batch in NumPy.

Reproducibility: every random choice of the loop is a pure function of (seed, epoch, batch):
the shuffling permutation of epoch ``e`` comes from ``numpy.random.default_rng([seed, e])`` and
the augmentation of batch ``k`` from ``default_rng([seed, e, k, 1])``; the global generator
(weight init, dropout) is saved in every checkpoint.  So a run interrupted anywhere and resumed
ends with exactly the weights of an uninterrupted run.

Data parallel (``dlbasic train --nproc N``, or a Trainer built after
``dlbasic.distributed.init_process_group``): every rank builds the same global batch of
``batch_size`` images (augmented the same way), takes its 1/N share of it, and
``DistributedDataParallel`` averages the gradients, so the run follows the single-process
recipe (BatchNorm statistics are per rank, as in PyTorch's DDP).  Rank 0 alone prints, writes
metrics, plots and checkpoints; the others receive its settings and, on ``--resume``, its
checkpoint, so they need no access to the run directory.
"""
import csv
from collections import OrderedDict
import json
import math
import os
import signal
import sys
import threading
import time

import numpy as np

import dlbasic

__all__ = ["TrainError", "DEFAULTS", "FASHION_MNIST_CLASSES", "load_fashion_mnist",
           "augment_batch", "build_model", "count_parameters", "model_flops", "evaluate",
           "confusion_matrix", "Trainer", "train", "load_checkpoint", "resolve_config"]

FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                         "Shirt", "Sneaker", "Bag", "Ankle boot"]
# per-pixel mean and std of the Fashion-MNIST training images (scaled to [0, 1])
FASHION_MNIST_MEAN = 0.2860
FASHION_MNIST_STD = 0.3530

CHECKPOINT_FORMAT = "dlbasic-train-v1"

# batches of 128 keep a narrow network's activations in cache (see evaluate)
EVAL_BATCH_SIZE = 128

DEFAULTS = dict(
    model="cnn", dataset="fashion-mnist", data_dir=None, epochs=10, batch_size=128,
    optimizer="sgd", lr=None, momentum=0.9, nesterov=False, weight_decay=None,
    schedule="cosine", augment=False, seed=0, workers=0, out=None, resume=False,
    limit_train=None, limit_test=None, eval_batch_size=EVAL_BATCH_SIZE, label_smoothing=0.0,
    model_kwargs=None,
)

# settings that may change between an interrupted run and its resumption (they do not change
# the numbers); everything else comes from the checkpoint
RUNTIME_KEYS = ("data_dir", "workers", "out", "resume", "eval_batch_size")

DEFAULT_LR = {"sgd": 0.1, "adam": 1e-3, "adamw": 1e-3}
DEFAULT_WEIGHT_DECAY = {"sgd": 5e-4, "adam": 0.0, "adamw": 1e-2}

MISSING_DATA_HELP = ("install the Debian package dataset-fashion-mnist "
                     "(sudo apt-get install dataset-fashion-mnist) or pass --data-dir DIR "
                     "holding the four IDX files (train-images-idx3-ubyte.gz, ...)")


class TrainError(Exception):
    """A problem the user can fix (bad argument, missing data, unwritable directory ...).

    The command line prints its message as one line and exits non-zero, without a traceback.
    """


# --------------------------------------------------------------------------------------------
# data

def _numpy(x):
    return x.detach().numpy() if hasattr(x, "detach") else np.asarray(x)


def locate_fashion_mnist(data_dir=None):
    """The directory holding Fashion-MNIST, or ``TrainError`` explaining how to get it."""
    from dlbasic.vision.datasets import find_fashion_mnist
    root = find_fashion_mnist(data_dir)
    if data_dir is not None and root is not None:
        # find_fashion_mnist falls back to the system copy; an explicit --data-dir must hold
        # the files itself (or in torchvision's FashionMNIST/raw below it)
        mine = {os.path.realpath(d) for d in (data_dir, os.path.join(data_dir, "FashionMNIST",
                                                                     "raw"))}
        if os.path.realpath(root) not in mine:
            root = None
    if root is None:
        where = f"in {data_dir}" if data_dir else "(looked in $FASHION_MNIST_DIR and " \
            "/usr/share/datasets/fashion-mnist)"
        raise TrainError(f"Fashion-MNIST not found {where}: {MISSING_DATA_HELP}")
    return root


def load_fashion_mnist(data_dir=None, limit_train=None, limit_test=None, train=True):
    """Both splits as normalised float32 arrays ``(N, 1, 28, 28)`` and int64 labels ``(N,)``:
    ``(x_train, y_train, x_test, y_test)``, or only ``(x_test, y_test)`` with ``train=False``.

    Reads the IDX files once through ``dlbasic.vision.datasets.FashionMNIST``.
    """
    from dlbasic.vision.datasets import FashionMNIST
    root = locate_fashion_mnist(data_dir)
    arrays = []
    splits = ((True, limit_train), (False, limit_test)) if train else ((False, limit_test),)
    for is_train, limit in splits:
        try:
            ds = FashionMNIST(root, train=is_train)
        except (OSError, ValueError, RuntimeError) as exc:
            raise TrainError(f"could not read Fashion-MNIST from {root}: {exc}") from None
        images = _numpy(ds.data)
        labels = _numpy(ds.targets).astype(np.int64)
        if limit is not None:
            images, labels = images[:limit], labels[:limit]
        x = images.astype(np.float32).reshape(len(images), 1, 28, 28)
        x *= 1.0 / 255.0
        x -= FASHION_MNIST_MEAN
        x *= 1.0 / FASHION_MNIST_STD
        arrays += [x, np.ascontiguousarray(labels)]
    return tuple(arrays)


def augment_batch(x, rng, pad=2, fill=None):
    """Random crop with ``pad`` pixels of padding and a random horizontal flip, per image.

    Vectorised over the batch: one pad, one gather through a sliding-window view, one flip.
    ``fill`` is the padding value (default: a black pixel after normalisation).
    """
    n, c, h, w = x.shape
    if fill is None:
        fill = -FASHION_MNIST_MEAN / FASHION_MNIST_STD
    padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=fill)
    windows = np.lib.stride_tricks.sliding_window_view(padded, (h, w), axis=(2, 3))
    dy = rng.integers(0, 2 * pad + 1, size=n)
    dx = rng.integers(0, 2 * pad + 1, size=n)
    out = windows[np.arange(n), :, dy, dx]                  # (n, c, h, w)
    flip = rng.random(n) < 0.5
    out[flip] = out[flip][..., ::-1]
    return np.ascontiguousarray(out, dtype=x.dtype)


def _epoch_batches(seed, epoch, n, batch_size):
    perm = np.random.default_rng([seed, epoch]).permutation(n)
    return [perm[i:i + batch_size] for i in range(0, n, batch_size)]


# --------------------------------------------------------------------------------------------
# model

def build_model(name, num_classes=10, in_channels=1, image_size=28, **kwargs):
    """A model from ``dlbasic.models`` for ``in_channels`` x ``image_size``^2 inputs.

    ``mlp`` gets sizes (C*H*W, 256, 128, classes); ``cifar_resnet`` is
    ``models.CifarResNet(depth, widths=...)``; every other name goes to ``models.get_model``
    with ``num_classes`` and ``in_channels``.  Unknown names
    and bad options raise ``TrainError`` (one line).
    """
    from dlbasic import models
    key = str(name).lower().replace("-", "_")
    try:
        if key == "mlp":
            kwargs.setdefault("sizes", (in_channels * image_size * image_size, 256, 128,
                                        num_classes))
            return models.get_model("mlp", **kwargs)
        if key == "cifar_resnet":
            return models.CifarResNet(num_classes=num_classes, in_channels=in_channels,
                                      **kwargs)
        if key == "cnn":
            kwargs.setdefault("image_size", image_size)
        return models.get_model(name, num_classes=num_classes, in_channels=in_channels,
                                **kwargs)
    except (KeyError, ValueError, TypeError) as exc:
        msg = exc.args[0] if exc.args else str(exc)
        raise TrainError(f"cannot build model {name!r}: {msg}") from None


def available_models():
    from dlbasic import models
    for attr in ("list_models", "available_models"):
        fn = getattr(models, attr, None)
        if callable(fn):
            try:
                return sorted(fn())
            except TypeError:
                pass
    return None


def count_parameters(model):
    return int(sum(p.numel() for p in model.parameters()))


def model_flops(model, input_shape):
    """Forward FLOPs for one input of ``input_shape`` from ``dlbasic.profiler``, or None."""
    try:
        from dlbasic.profiler import count_flops
    except ImportError:
        return None
    was_training = model.training
    model.eval()
    try:
        report = count_flops(model, tuple(input_shape))
    finally:
        model.train(was_training)
    for attr in ("total_flops", "flops", "total"):
        value = getattr(report, attr, None)
        if isinstance(value, (int, float, np.integer)):
            return int(value)
    if isinstance(report, (int, float, np.integer)):
        return int(report)
    return None


def format_count(n, unit=""):
    if n is None:
        return "n/a"
    for div, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= div:
            return f"{n / div:.2f} {suffix}{unit}"
    return f"{n} {unit}".rstrip()


# --------------------------------------------------------------------------------------------
# evaluation

def evaluate(model, x, y, batch_size=EVAL_BATCH_SIZE):
    """Mean cross-entropy, accuracy and predictions of ``model`` on arrays ``x``, ``y``.

    Batches of 128 keep a narrow network's activations in cache: resnet20 evaluates 5,000
    images in 8.9 s on one thread at 128 against 10.7 s at 1,000 (medians of 3, interleaved).
    """
    import dlbasic.nn.functional as F
    was_training = model.training
    model.eval()
    total_loss = 0.0
    preds = np.empty(len(y), dtype=np.int64)
    with dlbasic.no_grad():
        for i in range(0, len(y), batch_size):
            xb = dlbasic.from_numpy(x[i:i + batch_size])
            yb = dlbasic.from_numpy(y[i:i + batch_size])
            out = model(xb)
            total_loss += F.cross_entropy(out, yb, reduction="sum").item()
            preds[i:i + batch_size] = _numpy(out).argmax(axis=1)
    model.train(was_training)
    n = max(len(y), 1)
    return total_loss / n, float((preds == y).mean()) if len(y) else 0.0, preds


def confusion_matrix(y_true, y_pred, num_classes=10):
    """Counts with rows = true class and columns = predicted class."""
    m = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(m, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return m


# --------------------------------------------------------------------------------------------
# configuration and checkpoints

def resolve_config(config):
    """Fill defaults and per-optimizer choices; validate what argparse cannot."""
    cfg = dict(DEFAULTS)
    cfg.update({k: v for k, v in config.items() if v is not None or k not in cfg})
    if cfg["optimizer"] not in DEFAULT_LR:
        raise TrainError(f"unknown optimizer {cfg['optimizer']!r} "
                         f"(choose from {', '.join(DEFAULT_LR)})")
    if cfg["schedule"] not in ("cosine", "step", "onecycle", "none"):
        raise TrainError(f"unknown schedule {cfg['schedule']!r} "
                         "(choose from cosine, step, onecycle, none)")
    if cfg["dataset"] not in ("fashion-mnist",):
        raise TrainError(f"unknown dataset {cfg['dataset']!r} (only fashion-mnist)")
    if cfg["lr"] is None:
        cfg["lr"] = DEFAULT_LR[cfg["optimizer"]]
    if cfg["weight_decay"] is None:
        cfg["weight_decay"] = DEFAULT_WEIGHT_DECAY[cfg["optimizer"]]
    for key, low in (("epochs", 1), ("batch_size", 1), ("workers", 0)):
        if int(cfg[key]) < low:
            raise TrainError(f"--{key.replace('_', '-')} must be >= {low}, got {cfg[key]}")
    for key in ("limit_train", "limit_test"):
        if cfg[key] is not None and int(cfg[key]) < 1:
            raise TrainError(f"--{key.replace('_', '-')} must be >= 1, got {cfg[key]}")
    if not cfg["lr"] > 0:
        raise TrainError(f"--lr must be > 0, got {cfg['lr']}")
    if cfg["out"] is None:
        raise TrainError("--out DIR is required")
    cfg["out"] = os.fspath(cfg["out"])
    cfg["model_kwargs"] = dict(cfg["model_kwargs"] or {})
    return cfg


def load_checkpoint(path):
    """``dlbasic.load`` with one-line errors."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise TrainError(f"no checkpoint at {path}")
    try:
        return dlbasic.load(path)
    except Exception as exc:                                       # noqa: BLE001
        raise TrainError(f"cannot read checkpoint {path}: {exc}") from None


def load_state_dict_or_explain(model, state, what):
    """``model.load_state_dict(state)``; a mismatch becomes one line naming a few keys."""
    try:
        model.load_state_dict(state)
    except (RuntimeError, KeyError, ValueError) as exc:
        first = str(exc).strip().splitlines()
        detail = " ".join(line.strip() for line in first)[:300]
        raise TrainError(f"{what} does not match the model's architecture: {detail}") from None


def _ensure_writable_dir(path):
    try:
        os.makedirs(path, exist_ok=True)
        probe = os.path.join(path, f".write-test-{os.getpid()}")
        with open(probe, "w"):
            pass
        os.remove(probe)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise TrainError(f"cannot write to output directory {path}: {reason}") from None


# --------------------------------------------------------------------------------------------
# progress display

class _Progress:
    """A tqdm bar when tqdm is installed (and wanted), else a plain line every ~10 %."""

    def __init__(self, total, initial, desc, mode, log):
        self.total, self.desc, self.log = total, desc, log
        self.bar = None
        self.mode = mode
        self.t0 = time.perf_counter()
        self.start = initial
        self.done = initial
        self.every = max(1, total // 10)
        if mode == "bar":
            try:
                from tqdm.auto import tqdm
            except ImportError:
                self.mode = "lines"
            else:
                self.bar = tqdm(total=total, initial=initial, desc=desc, unit="batch",
                                dynamic_ncols=True, leave=True, file=sys.stderr)

    def update(self, loss, acc, images_per_s):
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)
            if self.done % 5 == 0 or self.done == self.total:
                self.bar.set_postfix(OrderedDict(loss=f"{loss:.4f}", acc=f"{100 * acc:.2f}%",
                                                 img_s=f"{images_per_s:.0f}"), refresh=False)
        elif self.mode == "lines" and (self.done % self.every == 0 or self.done == self.total):
            elapsed = time.perf_counter() - self.t0
            rate = (self.done - self.start) / elapsed if elapsed > 0 else 0.0
            eta = (self.total - self.done) / rate if rate > 0 else float("nan")
            self.log(f"{self.desc}: {self.done}/{self.total} batches  loss {loss:.4f}  "
                     f"acc {100 * acc:.2f}%  {images_per_s:.0f} img/s  ETA {eta:.0f}s")

    def close(self):
        if self.bar is not None:
            self.bar.close()


# --------------------------------------------------------------------------------------------
# the trainer

class Trainer:
    """Runs (or resumes) one training run described by a config dict (see ``DEFAULTS``).

    ``progress`` is "bar" (tqdm, falling back to lines), "lines" or "none"; ``log`` receives
    the human-readable messages.  ``hooks`` maps "after_step" / "after_epoch" to callables
    taking the trainer (tests use them to interrupt a run at a chosen point).
    """

    def __init__(self, config, progress="bar", log=print, hooks=None, overwrite=False,
                 flops=True, plots=True, tensorboard=False):
        self.rank, self.world = _distributed_rank_and_size()
        if self.rank:                  # rank 0 speaks and writes for the job
            log, progress, plots, tensorboard = (lambda *a, **k: None), "none", False, False
        self.log = log
        self.plots = plots
        self.tensorboard = tensorboard
        self._tb_writer = None
        self.progress = progress
        self.hooks = dict(hooks or {})
        self.want_flops = flops
        self.stop_requested = False
        if self.world > 1:
            # rank 0 reads and checks the run directory; the others get its outcome
            from dlbasic import distributed as dist
            outcome = [None]
            if self.rank == 0:
                try:
                    self._init_run(config, overwrite)
                    outcome[0] = ("ok", self.cfg, self.checkpoint, self.out)
                except TrainError as exc:
                    outcome[0] = ("error", str(exc))
            dist.broadcast_object_list(outcome, src=0)
            if outcome[0][0] == "error":
                raise TrainError(outcome[0][1])
            _, self.cfg, self.checkpoint, self.out = outcome[0]
            self.last_path = os.path.join(self.out, "last.pt")
            self.best_path = os.path.join(self.out, "best.pt")
            return
        self._init_run(config, overwrite)

    def _init_run(self, config, overwrite):
        cfg = dict(config)
        resume = bool(cfg.get("resume"))
        out = cfg.get("out")
        if out is None:
            raise TrainError("--out DIR is required")
        self.out = os.fspath(out)
        self.last_path = os.path.join(self.out, "last.pt")
        self.best_path = os.path.join(self.out, "best.pt")
        self.checkpoint = None
        if resume:
            self.checkpoint = load_checkpoint(self.last_path) if os.path.exists(
                self.last_path) else None
            if self.checkpoint is None:
                raise TrainError(f"nothing to resume: no checkpoint at {self.last_path}")
            if not isinstance(self.checkpoint, dict) or \
                    self.checkpoint.get("format") != CHECKPOINT_FORMAT:
                raise TrainError(f"{self.last_path} is not a dlbasic train checkpoint")
            saved = dict(self.checkpoint["args"])
            if cfg.get("model") not in (None, saved["model"]):
                raise TrainError(f"--model {cfg['model']} does not match the checkpoint in "
                                 f"{self.out}, which holds a {saved['model']}")
            for key in RUNTIME_KEYS:
                if cfg.get(key) is not None:
                    saved[key] = cfg[key]
            cfg = saved
            cfg["resume"] = True
        self.cfg = resolve_config(cfg)
        _ensure_writable_dir(self.out)
        if not resume and not overwrite and os.path.exists(self.last_path):
            raise TrainError(f"{self.out} already holds a run: pass --resume to continue it, "
                             "--overwrite to start again, or choose another --out")

    # ---- setup -------------------------------------------------------------------------
    def _setup(self):
        cfg = self.cfg
        from dlbasic import nn, optim
        # the model first: a bad name fails at once, before the data is decoded
        dlbasic.manual_seed(cfg["seed"])
        self.model = build_model(cfg["model"], **cfg["model_kwargs"])
        self.log("loading Fashion-MNIST ...")
        t0 = time.perf_counter()
        (self.x_train, self.y_train, self.x_test, self.y_test) = load_fashion_mnist(
            cfg["data_dir"], cfg["limit_train"], cfg["limit_test"])
        self.log(f"  {len(self.y_train)} training and {len(self.y_test)} test images "
                 f"({time.perf_counter() - t0:.1f}s)")
        self.criterion = nn.CrossEntropyLoss(label_smoothing=cfg["label_smoothing"]) \
            if cfg["label_smoothing"] else nn.CrossEntropyLoss()
        params = self.model.parameters()
        if cfg["optimizer"] == "sgd":
            self.optimizer = optim.SGD(params, lr=cfg["lr"], momentum=cfg["momentum"],
                                       weight_decay=cfg["weight_decay"],
                                       nesterov=bool(cfg["nesterov"] and cfg["momentum"] > 0))
        elif cfg["optimizer"] == "adam":
            self.optimizer = optim.Adam(params, lr=cfg["lr"], weight_decay=cfg["weight_decay"])
        else:
            self.optimizer = optim.AdamW(params, lr=cfg["lr"], weight_decay=cfg["weight_decay"])
        self.steps_per_epoch = math.ceil(len(self.y_train) / cfg["batch_size"])
        total = self.steps_per_epoch * cfg["epochs"]
        sched = optim.lr_scheduler
        if cfg["schedule"] == "cosine":
            self.scheduler = sched.CosineAnnealingLR(self.optimizer, T_max=total)
        elif cfg["schedule"] == "step":
            # decay by 10 after one and two thirds of training (stepped every batch)
            self.scheduler = sched.StepLR(self.optimizer, step_size=max(1, total // 3),
                                          gamma=0.1)
        elif cfg["schedule"] == "onecycle":
            self.scheduler = sched.OneCycleLR(self.optimizer, max_lr=cfg["lr"],
                                              total_steps=total)
        else:
            self.scheduler = None
        self.epoch, self.step = 0, 0
        self.partial = {"loss_sum": 0.0, "correct": 0, "seen": 0, "time": 0.0}
        self.history = []
        self.best_acc = -1.0
        if self.checkpoint is not None:
            self._restore(self.checkpoint)
        self.n_params = count_parameters(self.model)
        self.flops = model_flops(self.model, (1, 1, 28, 28)) \
            if self.want_flops and self.rank == 0 else None
        self.net = self.model          # what the loop calls: the model, or its DDP wrapper
        if self.world > 1:
            self.net = nn.parallel.DistributedDataParallel(self.model)

    def _restore(self, ckpt):
        load_state_dict_or_explain(self.model, ckpt["model"], f"checkpoint {self.last_path}")
        self.optimizer.load_state_dict(ckpt["optimizer"])
        if self.scheduler is not None and ckpt.get("scheduler") is not None:
            self.scheduler.load_state_dict(ckpt["scheduler"])
        dlbasic.set_rng_state(ckpt["rng_state"])
        self.epoch, self.step = int(ckpt["epoch"]), int(ckpt["step"])
        self.partial = dict(ckpt["partial"])
        self.history = [dict(h) for h in ckpt["history"]]
        self.best_acc = float(ckpt["best_acc"])
        where = f"epoch {self.epoch + 1}" + (f", batch {self.step}" if self.step else "")
        self.log(f"resuming {self.out} at {where}")

    # ---- checkpoints and metrics ---------------------------------------------------------
    def state(self):
        return {
            "format": CHECKPOINT_FORMAT,
            "args": dict(self.cfg),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "epoch": self.epoch,
            "step": self.step,
            "partial": dict(self.partial),
            "rng_state": dlbasic.get_rng_state(),
            "history": [dict(h) for h in self.history],
            "best_acc": self.best_acc,
        }

    def save(self, path):
        if self.rank == 0:
            dlbasic.save(self.state(), path)

    def _write_metrics(self):
        if self.rank:
            return
        fields = ["epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr",
                  "epoch_time", "images_per_s"]
        tmp = os.path.join(self.out, f".metrics.csv.tmp-{os.getpid()}")
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
            writer.writeheader()
            for h in self.history:
                writer.writerow(h)
        os.replace(tmp, os.path.join(self.out, "metrics.csv"))
        summary = {"args": self.cfg, "history": self.history,
                   "best_test_acc": max((h["test_acc"] for h in self.history), default=None),
                   "parameters": self.n_params, "flops": self.flops}
        tmp = os.path.join(self.out, f".metrics.json.tmp-{os.getpid()}")
        with open(tmp, "w") as f:
            json.dump(summary, f, indent=2)
        os.replace(tmp, os.path.join(self.out, "metrics.json"))
        if not self.plots:
            return
        from .plotting import save_curves, missing_note
        title = f"{self.cfg['model']} on Fashion-MNIST"
        if save_curves(self.history, os.path.join(self.out, "curves.png"), title) is None \
                and not getattr(self, "_noted_plot", False):
            self._noted_plot = True
            self.log(missing_note("curves.png"))

    def _log_tensorboard(self, record):
        """The epoch's metrics as TensorBoard scalars in ``<out>/tensorboard`` (step = epoch).
        A resumed run's writer purges what a crashed run logged after its checkpoint."""
        if not self.tensorboard:
            return
        if self._tb_writer is None:
            try:
                from dlbasic.utils.tensorboard import SummaryWriter
                self._tb_writer = SummaryWriter(os.path.join(self.out, "tensorboard"),
                                                purge_step=record["epoch"])
            except ImportError as exc:
                self.log(f"note: no TensorBoard logs: {exc}")
                self.tensorboard = False
                return
        w, step = self._tb_writer, record["epoch"]
        for split in ("train", "test"):
            w.add_scalar(f"loss/{split}", record[f"{split}_loss"], step)
            w.add_scalar(f"accuracy/{split}", record[f"{split}_acc"], step)
        w.add_scalar("lr", record["lr"], step)
        w.add_scalar("images_per_s", record["images_per_s"], step)
        w.flush()

    def _close_tensorboard(self):
        if self._tb_writer is not None:
            self._tb_writer.close()
            self._tb_writer = None

    # ---- the loop ------------------------------------------------------------------------
    def _batches(self, epoch, start):
        """Yields (k, x ndarray or tensor, y) for batches ``start ..`` of ``epoch``."""
        cfg = self.cfg
        batches = _epoch_batches(cfg["seed"], epoch, len(self.y_train), cfg["batch_size"])
        if self.world > 1:
            # every rank draws the same global batch; augmentation needs it whole (its random
            # numbers are per batch), so each rank takes its share after augmenting
            for k in range(start, len(batches)):
                idx = batches[k]
                xb = self.x_train[idx]
                if cfg["augment"]:
                    xb = augment_batch(xb, np.random.default_rng([cfg["seed"], epoch, k, 1]))
                share = slice(self.rank, None, self.world)
                yield k, xb[share], self.y_train[idx][share]
            return
        if cfg["workers"] > 0:
            from dlbasic.utils.data import DataLoader, TensorDataset
            ds = TensorDataset(dlbasic.from_numpy(self.x_train),
                               dlbasic.from_numpy(self.y_train))
            loader = DataLoader(ds, batch_sampler=[b.tolist() for b in batches[start:]],
                                num_workers=cfg["workers"])
            for k, (xb, yb) in enumerate(loader, start):
                yield k, _numpy(xb), _numpy(yb)
        else:
            for k in range(start, len(batches)):
                idx = batches[k]
                yield k, self.x_train[idx], self.y_train[idx]

    def _train_epoch(self):
        cfg = self.cfg
        e = self.epoch
        bar = _Progress(self.steps_per_epoch, self.step, f"epoch {e + 1}/{cfg['epochs']}",
                        self.progress, self.log)
        p = self.partial
        try:
            t_last = time.perf_counter()
            for k, xb, yb in self._batches(e, self.step):
                if self._stop_agreed():
                    return False
                if cfg["augment"] and self.world == 1:
                    xb = augment_batch(xb, np.random.default_rng([cfg["seed"], e, k, 1]))
                x = dlbasic.from_numpy(np.ascontiguousarray(xb))
                y = dlbasic.from_numpy(np.ascontiguousarray(yb))
                self._in_step = True
                out = self.net(x)
                loss = self.criterion(out, y)
                self.optimizer.zero_grad()
                loss.backward()
                self.optimizer.step()
                if self.scheduler is not None:
                    self.scheduler.step()
                self._in_step = False
                now = time.perf_counter()
                n = len(yb)
                p["loss_sum"] += loss.item() * n
                p["correct"] += int((_numpy(out).argmax(axis=1) == yb).sum())
                p["seen"] += n
                p["time"] += now - t_last
                t_last = now
                self.step = k + 1
                bar.update(p["loss_sum"] / p["seen"], p["correct"] / p["seen"],
                           p["seen"] / max(p["time"], 1e-9))
                if "after_step" in self.hooks:
                    self.hooks["after_step"](self)
        finally:
            bar.close()
        return not self._stop_agreed()

    def _finish_epoch(self):
        cfg = self.cfg
        p = self.partial
        if self.world > 1:
            test_loss, test_acc = self._evaluate_distributed()
            p = self._global_partial()
        else:
            test_loss, test_acc, _ = evaluate(self.model, self.x_test, self.y_test,
                                              cfg["eval_batch_size"])
        record = {
            "epoch": self.epoch + 1,
            "train_loss": p["loss_sum"] / max(p["seen"], 1),
            "train_acc": p["correct"] / max(p["seen"], 1),
            "test_loss": test_loss, "test_acc": test_acc,
            "lr": float(self.optimizer.param_groups[0]["lr"]),
            "epoch_time": p["time"], "images_per_s": p["seen"] / max(p["time"], 1e-9),
        }
        self.history.append(record)
        self.epoch += 1
        self.step = 0
        self.partial = {"loss_sum": 0.0, "correct": 0, "seen": 0, "time": 0.0}
        improved = test_acc > self.best_acc
        if improved:
            self.best_acc = test_acc
        self.save(self.last_path)
        if improved:
            self.save(self.best_path)
        self._write_metrics()
        self._log_tensorboard(record)
        self.log(f"epoch {record['epoch']}/{cfg['epochs']}: train loss {record['train_loss']:.4f}"
                 f" acc {100 * record['train_acc']:.2f}% | test loss {test_loss:.4f} "
                 f"acc {100 * test_acc:.2f}%{' (best)' if improved else ''} | "
                 f"{record['images_per_s']:.0f} img/s, {record['epoch_time']:.1f}s")
        return record

    def _global_partial(self):
        """The epoch's training sums over all ranks (time: the slowest rank's)."""
        from dlbasic import distributed as dist
        p = self.partial
        sums = dlbasic.tensor([p["loss_sum"], p["correct"], p["seen"]], dtype=dlbasic.float64)
        dist.all_reduce(sums)
        slowest = dlbasic.tensor([p["time"]], dtype=dlbasic.float64)
        dist.all_reduce(slowest, op=dist.ReduceOp.MAX)
        loss_sum, correct, seen = sums.tolist()
        return {"loss_sum": loss_sum, "correct": int(correct), "seen": int(seen),
                "time": slowest.item()}

    def _evaluate_distributed(self):
        """Each rank evaluates a contiguous 1/N of the test set; the sums are combined."""
        from dlbasic import distributed as dist
        n = len(self.y_test)
        lo, hi = n * self.rank // self.world, n * (self.rank + 1) // self.world
        loss, acc, _ = evaluate(self.model, self.x_test[lo:hi], self.y_test[lo:hi],
                                self.cfg["eval_batch_size"])
        sums = dlbasic.tensor([loss * (hi - lo), acc * (hi - lo)], dtype=dlbasic.float64)
        dist.all_reduce(sums)
        loss_sum, correct = sums.tolist()
        return loss_sum / max(n, 1), correct / max(n, 1)

    def _stop_agreed(self):
        """Whether to stop before the next batch.  With several ranks all must agree (a Ctrl-C
        reaches each at its own moment), so the flag is combined, one tiny all_reduce a step."""
        if self.world == 1:
            return self.stop_requested
        from dlbasic import distributed as dist
        flag = dlbasic.tensor([1 if self.stop_requested else 0], dtype=dlbasic.int32)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        self.stop_requested = bool(flag.item())
        return self.stop_requested

    def _on_sigint(self, signum, frame):
        if self.stop_requested:
            raise KeyboardInterrupt
        self.stop_requested = True
        print("\ninterrupt: stopping after this batch and saving a checkpoint "
              "(Ctrl-C again to abort without saving)", file=sys.stderr, flush=True)

    def _interrupted(self):
        self.save(self.last_path)
        if self.history:
            self._write_metrics()
        where = f"epoch {self.epoch + 1}, batch {self.step}/{self.steps_per_epoch}"
        self.log(f"interrupted at {where}; checkpoint saved to {self.last_path}")
        self.log(f"resume with: dlbasic train --out {self.out} --resume")

    def run(self):
        """Train to the end (or until interrupted); returns a summary dict."""
        self._setup()
        cfg = self.cfg
        self.log(f"model {cfg['model']}: {self.n_params:,} parameters, "
                 f"{format_count(self.flops, 'FLOPs')} per image; "
                 f"{cfg['optimizer']} lr {cfg['lr']} schedule {cfg['schedule']}, "
                 f"batch {cfg['batch_size']}, {cfg['epochs']} epochs"
                 f"{', augmentation' if cfg['augment'] else ''}")
        handler_installed = False
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGINT, self._on_sigint)
            handler_installed = True
        self._in_step = False
        t0 = time.perf_counter()
        interrupted = False
        try:
            while self.epoch < cfg["epochs"]:
                if self.step < self.steps_per_epoch:
                    if not self._train_epoch():
                        interrupted = True
                        break
                self._finish_epoch()
                if "after_epoch" in self.hooks:
                    self.hooks["after_epoch"](self)
                if self._stop_agreed():
                    interrupted = True
                    break
        except KeyboardInterrupt:
            # a second Ctrl-C: the model is consistent unless we were inside a step
            if self._in_step:
                self.log(f"aborted inside a training step; the last checkpoint is "
                         f"{self.last_path}")
                raise
            interrupted = True
        finally:
            if handler_installed:
                signal.signal(signal.SIGINT, previous)
            self._close_tensorboard()
        wall = time.perf_counter() - t0
        if interrupted:
            self._interrupted()
            return {"interrupted": True, "epoch": self.epoch, "step": self.step,
                    "checkpoint": self.last_path}
        return self._summary(wall)

    def _summary(self, wall):
        h = self.history
        final = h[-1] if h else None
        seen = sum(r["images_per_s"] * r["epoch_time"] for r in h)
        train_time = sum(r["epoch_time"] for r in h)
        summary = {
            "interrupted": False,
            "test_acc": final["test_acc"] if final else None,
            "best_test_acc": max((r["test_acc"] for r in h), default=None),
            "wall_time": wall, "images_per_s": seen / train_time if train_time else None,
            "parameters": self.n_params, "flops": self.flops,
            "out": self.out, "checkpoint": self.last_path,
        }
        self.log("")
        self.log(f"done: {self.cfg['model']} on Fashion-MNIST, {len(h)} epochs")
        if final:
            self.log(f"  test accuracy     {100 * final['test_acc']:.2f}% "
                     f"(best {100 * summary['best_test_acc']:.2f}%)")
        self.log(f"  wall time         {wall:.1f}s (this session)")
        if summary["images_per_s"]:
            self.log(f"  training speed    {summary['images_per_s']:.0f} images/s")
        self.log(f"  parameters        {self.n_params:,}")
        self.log(f"  FLOPs             {format_count(self.flops)} per 1x28x28 image (forward)")
        self.log(f"  outputs           {self.out}/ (metrics.csv, metrics.json, curves.png, "
                 "last.pt, best.pt)")
        return summary


def _distributed_rank_and_size():
    """(rank, world size) of the default process group, or (0, 1) without one."""
    dist = sys.modules.get("dlbasic.distributed")
    if dist is None or not dist.is_initialized():
        return 0, 1
    return dist.get_rank(), dist.get_world_size()


def train(config, **kwargs):
    """Convenience: ``Trainer(config, **kwargs).run()``."""
    return Trainer(config, **kwargs).run()
