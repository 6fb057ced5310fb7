"""The ``dlbasic`` command line: ``train``, ``eval``, ``flops``, ``profile``, ``export``, ``run``.

    dlbasic train --model resnet20 --epochs 30 --augment --out runs/r20
    dlbasic train --out runs/r20 --resume
    dlbasic eval runs/r20/best.pt
    dlbasic flops resnet18 --input 1,3,224,224
    dlbasic profile resnet20 --batch 64
    dlbasic export runs/r20/best.pt --onnx r20.onnx --safetensors r20.safetensors
    dlbasic train --model resnet20 --nproc 2 --out runs/r20x2     # data parallel, 2 processes
    dlbasic run --nproc-per-node 2 my_train.py --epochs 3          # any script, on mpiexec

Mistakes the user can fix (unknown model, missing data, unwritable directory, a checkpoint
of another architecture) print one line on stderr and exit with status 2; never a traceback.
"""
import argparse
import json
import os
import sys

__all__ = ["main", "build_parser"]

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    """argparse, but errors are one line (no usage dump) so they match our other errors."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"dlbasic: error: {message} (see: dlbasic {self._sub_name()}"
                              "--help)\n")

    def _sub_name(self):
        parts = self.prog.split()
        return (parts[-1] + " ") if len(parts) > 1 else ""


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def _shape(text):
    try:
        dims = tuple(int(d) for d in text.replace("x", ",").split(",") if d.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a shape like 1,3,224,224, got {text!r}") from None
    if not dims or any(d < 1 for d in dims):
        raise argparse.ArgumentTypeError(f"expected positive sizes like 1,3,224,224, got {text!r}")
    return dims


def build_parser():
    parser = _Parser(prog="dlbasic", description="dlbasic: deep learning on NumPy with "
                     "PyTorch's API. Train, evaluate and measure models on Fashion-MNIST.")
    from dlbasic import __version__
    parser.add_argument("--version", action="version", version=f"dlbasic {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    t = sub.add_parser("train", help="train a model on Fashion-MNIST",
                       description="Train a model on Fashion-MNIST with a progress bar, "
                       "per-epoch evaluation, metrics, curves and checkpoints.")
    t.add_argument("--model", default=None,
                   help="mlp, cnn, resnet8/20/32/44/56/110, plain8..110, resnet18 ... "
                   "(default: cnn)")
    t.add_argument("--dataset", default="fashion-mnist", choices=["fashion-mnist"])
    t.add_argument("--data-dir", default=None, metavar="DIR",
                   help="directory holding the four Fashion-MNIST IDX files")
    t.add_argument("--epochs", type=_positive_int, default=None, help="default: 10")
    t.add_argument("--batch-size", type=_positive_int, default=None, help="default: 128")
    t.add_argument("--optimizer", choices=["sgd", "adam", "adamw"], default=None,
                   help="default: sgd")
    t.add_argument("--lr", type=float, default=None,
                   help="learning rate (peak for onecycle); default 0.1 for sgd, 1e-3 for adam")
    t.add_argument("--momentum", type=float, default=None, help="SGD momentum (default 0.9)")
    t.add_argument("--nesterov", action="store_true", default=None, help="Nesterov momentum")
    t.add_argument("--weight-decay", type=float, default=None,
                   help="default: 5e-4 for sgd, 0 for adam, 0.01 for adamw")
    t.add_argument("--schedule", choices=["cosine", "step", "onecycle", "none"], default=None,
                   help="learning-rate schedule, stepped every batch (default: cosine)")
    t.add_argument("--label-smoothing", type=float, default=None)
    t.add_argument("--augment", action="store_true", default=None,
                   help="random crop (padding 2) and horizontal flip")
    t.add_argument("--seed", type=int, default=None, help="default: 0")
    t.add_argument("--workers", type=int, default=None,
                   help="DataLoader worker processes (default 0: index the arrays directly)")
    t.add_argument("--out", default=None, metavar="DIR", required=True,
                   help="run directory for metrics, curves and checkpoints, e.g. runs/NAME")
    t.add_argument("--resume", action="store_true", default=None,
                   help="continue the run saved in --out (its settings come from the checkpoint)")
    t.add_argument("--overwrite", action="store_true",
                   help="start again even if --out already holds a run")
    t.add_argument("--limit-train", type=_positive_int, default=None, metavar="N",
                   help="use only the first N training images (quick runs)")
    t.add_argument("--limit-test", type=_positive_int, default=None, metavar="N",
                   help="use only the first N test images (quick runs)")
    t.add_argument("--progress", choices=["bar", "lines", "none"], default="bar",
                   help="tqdm bar (default; plain lines without tqdm), plain lines, or none")
    t.add_argument("--no-plots", action="store_true", help="do not draw curves.png")
    t.add_argument("--tensorboard", action="store_true",
                   help="also log every epoch's metrics for TensorBoard in OUT/tensorboard "
                        "(needs the tensorboard package)")
    t.add_argument("--nproc", type=_positive_int, default=1, metavar="N",
                   help="train data-parallel in N processes on this machine (MPI; "
                        "--batch-size stays the global batch, each process takes 1/N of it)")

    r = sub.add_parser("run", help="run a script as N processes of one MPI job (torchrun)",
                       description="Start N copies of a script as one MPI job (mpiexec), with "
                       "RANK, WORLD_SIZE, LOCAL_RANK set; a failure in any rank ends the job "
                       "with a message naming it.")
    r.add_argument("--nproc-per-node", "--nproc_per_node", type=_positive_int, default=1,
                   metavar="N", dest="nproc_per_node", help="processes per machine (default 1)")
    r.add_argument("--hostfile", default=None, metavar="FILE",
                   help="machines to run on, one per line (default: this machine only)")
    r.add_argument("--mpiexec", default=None, metavar="PATH",
                   help="the mpiexec to use (default: the virtualenv's, then PATH's)")
    r.add_argument("-m", "--module", action="store_true",
                   help="the script is a module name, run as python -m")
    r.add_argument("script", help="the training script (or module with -m)")
    r.add_argument("script_args", nargs=argparse.REMAINDER, help="its arguments")

    e = sub.add_parser("eval", help="accuracy and confusion matrix of a checkpoint",
                       description="Evaluate a checkpoint on the Fashion-MNIST test set; prints "
                       "the accuracy and the confusion matrix and saves it as a PNG.")
    e.add_argument("checkpoint")
    e.add_argument("--data-dir", default=None, metavar="DIR")
    e.add_argument("--model", default=None,
                   help="architecture for a checkpoint that is a bare state_dict")
    e.add_argument("--out", default=None, metavar="PNG",
                   help="confusion-matrix image (default: confusion.png beside the checkpoint)")
    e.add_argument("--limit-test", type=_positive_int, default=None, metavar="N")
    e.add_argument("--batch-size", type=_positive_int, default=128)

    f = sub.add_parser("flops", help="count a model's FLOPs, MACs and parameters",
                       description="Count the forward FLOPs of a model for one input shape.")
    f.add_argument("model")
    f.add_argument("--input", type=_shape, default=None, metavar="N,C,H,W",
                   help="input shape (default 1,3,224,224 for ImageNet ResNets, else 1,1,28,28)")
    f.add_argument("--count", choices=["matmul", "all"], default="matmul",
                   help="matmul: conv/linear/matmul only (as torch's FlopCounterMode, the "
                   "default); all: also elementwise work")
    f.add_argument("--num-classes", type=_positive_int, default=None)
    f.add_argument("--json", action="store_true", help="print the report as JSON")

    p = sub.add_parser("profile", help="per-layer time and achieved FLOP/s of a model",
                       description="Time each layer of a model on random input (forward and "
                       "backward) and print the profiler's table.")
    p.add_argument("model")
    p.add_argument("--batch", type=_positive_int, default=32)
    p.add_argument("--input", type=_shape, default=None, metavar="C,H,W",
                   help="one sample's shape (default 3,224,224 for ImageNet ResNets, else 1,28,28)")
    p.add_argument("--json", action="store_true")

    x = sub.add_parser("export", help="write a checkpoint's model as ONNX and/or safetensors",
                       description="Rebuild the model of a checkpoint and write it as ONNX "
                       "(then run the file in onnxruntime on a random input and print the "
                       "largest difference from dlbasic's output) and/or as safetensors.")
    x.add_argument("checkpoint")
    x.add_argument("--onnx", default=None, metavar="PATH", help="ONNX file to write")
    x.add_argument("--safetensors", default=None, metavar="PATH",
                   help="safetensors file to write (the model's state_dict)")
    x.add_argument("--model", default=None,
                   help="architecture for a checkpoint that is a bare state_dict")
    x.add_argument("--input", type=_shape, default=None, metavar="C,H,W",
                   help="one sample's shape, or N,C,H,W (default: the training input, 1,28,28)")
    x.add_argument("--opset", type=_positive_int, default=None,
                   help="ONNX opset version (default 17)")
    x.add_argument("--static-batch", action="store_true",
                   help="fix the batch size in the ONNX file (default: a dynamic 'batch' axis)")
    x.add_argument("--no-check", action="store_true",
                   help="do not compare the ONNX file with dlbasic in onnxruntime")
    return parser


IMAGENET_MODELS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
                   "wide_resnet50_2", "wide_resnet101_2", "resnext50_32x4d", "resnext101_32x8d")


def _default_sample_shape(model_name):
    key = model_name.lower().replace("-", "_")
    return (3, 224, 224) if key in IMAGENET_MODELS else (1, 28, 28)


def _model_for_shape(name, sample_shape, num_classes=None):
    from .train import build_model
    c, h = sample_shape[0], sample_shape[-1]
    key = name.lower().replace("-", "_")
    if num_classes is None:
        num_classes = 1000 if key in IMAGENET_MODELS else 10
    return build_model(name, num_classes=num_classes, in_channels=c, image_size=h)


# --------------------------------------------------------------------------------------------

def _cmd_run(args):
    from dlbasic.distributed.run import run, LaunchError
    from .train import TrainError
    try:
        return run([args.script] + list(args.script_args), args.nproc_per_node, args.hostfile,
                   args.module, args.mpiexec)
    except LaunchError as exc:
        raise TrainError(str(exc)) from None


def _train_distributed(args):
    """``--nproc N``: relaunch this command as N MPI processes, or, inside one, join the job."""
    if os.environ.get("DLBASIC_LAUNCHED") != "1":
        from dlbasic.distributed.run import run, LaunchError
        from .train import TrainError
        try:
            return True, run(["dlbasic"] + list(args.argv), args.nproc, module=True)
        except LaunchError as exc:
            raise TrainError(str(exc)) from None
    from dlbasic import distributed as dist
    from .train import TrainError
    if not dist.is_initialized():
        dist.init_process_group("mpi")
    if dist.get_world_size() != args.nproc:
        raise TrainError(f"--nproc {args.nproc}, but this MPI job has "
                         f"{dist.get_world_size()} processes")
    return False, None


def _cmd_train(args):
    from .train import Trainer
    if args.nproc > 1:
        launched, status = _train_distributed(args)
        if launched:
            return status
    keys = ("model", "dataset", "data_dir", "epochs", "batch_size", "optimizer", "lr", "momentum",
            "nesterov", "weight_decay", "schedule", "label_smoothing", "augment", "seed",
            "workers", "out", "resume", "limit_train", "limit_test")
    config = {k: getattr(args, k) for k in keys}
    trainer = Trainer(config, progress=args.progress, overwrite=args.overwrite,
                      plots=not args.no_plots, tensorboard=args.tensorboard)
    summary = trainer.run()
    if args.nproc > 1:
        from dlbasic import distributed as dist
        dist.barrier()                 # rank 0 has written its last checkpoint before any exits
    return EXIT_INTERRUPTED if summary.get("interrupted") else 0


def _cmd_eval(args):
    import numpy as np
    from .train import (TrainError, load_checkpoint, build_model, load_fashion_mnist, evaluate,
                        confusion_matrix, load_state_dict_or_explain, FASHION_MNIST_CLASSES,
                        CHECKPOINT_FORMAT)
    from .plotting import save_confusion_matrix, missing_note
    ckpt = load_checkpoint(args.checkpoint)
    if isinstance(ckpt, dict) and ckpt.get("format") == CHECKPOINT_FORMAT:
        saved = ckpt["args"]
        name = saved["model"]
        if args.model is not None and args.model.lower() != name.lower():
            # the user insists on another architecture: the keys or shapes will tell
            model = build_model(args.model)
            what = f"checkpoint {args.checkpoint} (a {name}, not a {args.model})"
            name = args.model
        else:
            model = build_model(name, **dict(saved.get("model_kwargs") or {}))
            what = f"checkpoint {args.checkpoint}"
        state = ckpt["model"]
    elif isinstance(ckpt, dict):
        if args.model is None:
            raise TrainError(f"{args.checkpoint} is a bare state_dict: pass --model NAME")
        name, model, state = args.model, build_model(args.model), ckpt
        what = f"checkpoint {args.checkpoint}"
    else:
        raise TrainError(f"{args.checkpoint} holds a {type(ckpt).__name__}, not a checkpoint")
    load_state_dict_or_explain(model, state, what)
    x_test, y_test = load_fashion_mnist(args.data_dir, limit_test=args.limit_test, train=False)
    loss, acc, preds = evaluate(model, x_test, y_test, args.batch_size)
    matrix = confusion_matrix(y_test, preds, len(FASHION_MNIST_CLASSES))
    print(f"{name} from {args.checkpoint}: test accuracy {100 * acc:.2f}% "
          f"({int((preds == y_test).sum())}/{len(y_test)}), loss {loss:.4f}")
    width = max(len(c) for c in FASHION_MNIST_CLASSES)
    print("confusion matrix (rows: true class, columns: predicted class)")
    print(" " * (width + 1) + " ".join(f"{i:>5d}" for i in range(len(FASHION_MNIST_CLASSES))))
    for i, cname in enumerate(FASHION_MNIST_CLASSES):
        recall = matrix[i, i] / max(matrix[i].sum(), 1)
        print(f"{cname:>{width}s} " + " ".join(f"{v:>5d}" for v in matrix[i])
              + f"   {100 * recall:5.1f}%")
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(args.checkpoint)),
                                   "confusion.png")
    try:
        written = save_confusion_matrix(matrix, FASHION_MNIST_CLASSES, out,
                                        title=f"{name}: test accuracy {100 * acc:.2f}%")
    except OSError as exc:
        raise TrainError(f"cannot write {out}: {exc.strerror or exc}") from None
    print(f"confusion matrix saved to {written}" if written else missing_note(out))
    if written:
        np.savetxt(os.path.splitext(out)[0] + ".csv", matrix, fmt="%d", delimiter=",")
    return 0


def _report_to_dict(report):
    for attr in ("to_dict", "as_dict"):
        fn = getattr(report, attr, None)
        if callable(fn):
            return fn()
    to_json = getattr(report, "to_json", None)
    if callable(to_json):
        text = to_json()
        return json.loads(text) if isinstance(text, str) else text
    return None


def _cmd_flops(args):
    from dlbasic import profiler
    from .train import count_parameters, format_count
    shape = args.input or (1,) + _default_sample_shape(args.model)
    if len(shape) < 2:
        from .train import TrainError
        raise TrainError(f"--input needs at least N,C, got {','.join(map(str, shape))}")
    model = _model_for_shape(args.model, shape[1:], args.num_classes)
    model.eval()
    report = profiler.count_flops(model, tuple(shape), count=args.count)
    if args.json:
        to_json = getattr(report, "to_json", None)
        text = to_json() if callable(to_json) else json.dumps(_report_to_dict(report))
        print(text if isinstance(text, str) else json.dumps(text, indent=2))
        return 0
    table = getattr(report, "table", None)
    if callable(table):
        print(table())
    else:
        print(report)
    total = None
    for attr in ("total_flops", "flops"):
        if isinstance(getattr(report, attr, None), (int, float)):
            total = getattr(report, attr)
            break
    print(f"{args.model} on input {tuple(shape)}: {format_count(total, 'FLOPs')}, "
          f"{count_parameters(model):,} parameters")
    return 0


def _cmd_profile(args):
    from dlbasic import profiler
    from .train import TrainError
    sample = args.input or _default_sample_shape(args.model)
    model = _model_for_shape(args.model, sample)
    fn = getattr(profiler, "profile", None) or getattr(profiler, "profile_model", None)
    if fn is None:
        raise TrainError("this dlbasic has no per-layer profiler (dlbasic.profiler.profile)")
    report = fn(model, (args.batch,) + tuple(sample))
    if args.json:
        to_json = getattr(report, "to_json", None)
        print(to_json() if callable(to_json) else json.dumps(_report_to_dict(report), indent=2))
        return 0
    table = getattr(report, "table", None)
    print(table() if callable(table) else report)
    return 0


def _model_from_checkpoint(path, model_name):
    """(name, model_kwargs, model with the checkpoint's weights), as ``dlbasic eval`` builds it."""
    from .train import (TrainError, load_checkpoint, build_model, load_state_dict_or_explain,
                        CHECKPOINT_FORMAT)
    ckpt = load_checkpoint(path)
    if isinstance(ckpt, dict) and ckpt.get("format") == CHECKPOINT_FORMAT:
        saved = ckpt["args"]
        name, kwargs = saved["model"], dict(saved.get("model_kwargs") or {})
        what = f"checkpoint {path}"
        if model_name is not None and model_name.lower() != name.lower():
            what = f"checkpoint {path} (a {name}, not a {model_name})"
            name, kwargs = model_name, {}
        model = build_model(name, **kwargs)
        state = ckpt["model"]
    elif isinstance(ckpt, dict):
        if model_name is None:
            raise TrainError(f"{path} is a bare state_dict: pass --model NAME")
        name, kwargs, state = model_name, {}, ckpt
        model = build_model(name)
        what = f"checkpoint {path}"
    else:
        raise TrainError(f"{path} holds a {type(ckpt).__name__}, not a checkpoint")
    load_state_dict_or_explain(model, state, what)
    return name, kwargs, model


def _file_size(path):
    n = os.path.getsize(path)
    return f"{n / 1e6:.2f} MB" if n >= 1e5 else f"{n / 1e3:.1f} KB"


def _dims_text(shape, dynamic):
    return "(" + ", ".join(["batch" if dynamic else str(shape[0])] +
                           [str(d) for d in shape[1:]]) + ")"


ONNX_CHECK_ATOL = 1e-4


def _export_onnx(args, name, model, shape):
    import numpy as np
    import dlbasic
    from .train import TrainError
    try:
        from dlbasic import onnx as donnx
    except ImportError as exc:                          # pragma: no cover
        raise TrainError(str(exc)) from None
    dynamic = not args.static_batch
    rng = np.random.default_rng(0)
    x = dlbasic.from_numpy(rng.standard_normal(shape).astype(np.float32))
    axes = {"input": {0: "batch"}, "output": {0: "batch"}} if dynamic else None
    try:
        proto = donnx.export(model, (x,), args.onnx, input_names=["input"],
                             output_names=["output"], dynamic_axes=axes,
                             opset_version=args.opset)
    except ImportError as exc:
        raise TrainError(str(exc)) from None
    except OSError as exc:
        raise TrainError(f"cannot write {args.onnx}: {exc.strerror or exc}") from None
    except (donnx.OnnxExporterError, NotImplementedError, ValueError, TypeError) as exc:
        raise TrainError(f"cannot export {name} to ONNX: {exc}") from None
    with dlbasic.no_grad():
        out_shape = tuple(model(x).shape)
    print(f"wrote {args.onnx}: {name}, ONNX opset {proto.opset_import[0].version}, input "
          f"{_dims_text(shape, dynamic)} -> output {_dims_text(out_shape, dynamic)}, "
          f"{_file_size(args.onnx)}")
    if args.no_check:
        return 0
    batches = [shape[0]] + ([shape[0] + 2] if dynamic else [])
    diffs = []
    try:
        for n in batches:
            xb = dlbasic.from_numpy(rng.standard_normal((n,) + tuple(shape[1:]))
                                    .astype(np.float32))
            diffs.append(donnx.compare_with_onnxruntime(args.onnx, model, (xb,)))
    except ImportError as exc:
        print(f"onnxruntime check skipped: {exc}")
        return 0
    text = ", ".join(f"{d:.2e} at batch {n}" for d, n in zip(diffs, batches))
    ok = all(d <= ONNX_CHECK_ATOL for d in diffs)
    print(f"onnxruntime check on random input: max abs difference {text} "
          f"({'OK' if ok else 'FAILED'}, tolerance {ONNX_CHECK_ATOL:g})")
    if not ok:
        print(f"dlbasic export: error: onnxruntime's output differs from dlbasic's by more "
              f"than {ONNX_CHECK_ATOL:g}", file=sys.stderr)
        return 1
    return 0


def _export_safetensors(args, model):
    from .train import TrainError
    try:
        from dlbasic.utils import safetensors as st
    except ImportError as exc:                          # pragma: no cover
        raise TrainError(f"safetensors export is not available: {exc}") from None
    state = model.state_dict()
    try:
        st.save_file(state, args.safetensors)
    except ImportError as exc:
        raise TrainError(str(exc)) from None
    except OSError as exc:
        raise TrainError(f"cannot write {args.safetensors}: {exc.strerror or exc}") from None
    except (RuntimeError, ValueError, TypeError) as exc:
        raise TrainError(f"cannot write {args.safetensors}: {exc}") from None
    print(f"wrote {args.safetensors}: {len(state)} tensors, {_file_size(args.safetensors)}")
    return 0


def _cmd_export(args):
    from .train import TrainError
    if not args.onnx and not args.safetensors:
        raise TrainError("nothing to write: give --onnx PATH and/or --safetensors PATH")
    name, kwargs, model = _model_from_checkpoint(args.checkpoint, args.model)
    model.eval()
    if args.input is not None and len(args.input) >= 4:
        shape = tuple(args.input)
    elif args.input is not None:
        shape = (1,) + tuple(args.input)
    else:
        side = int(kwargs.get("image_size", 28))
        shape = (1, int(kwargs.get("in_channels", 1)), side, side)
    status = 0
    if args.safetensors:
        status = _export_safetensors(args, model)
    if args.onnx:
        status = _export_onnx(args, name, model, shape) or status
    return status


COMMANDS = {"train": _cmd_train, "eval": _cmd_eval, "flops": _cmd_flops,
            "profile": _cmd_profile, "export": _cmd_export, "run": _cmd_run}


def main(argv=None):
    """Entry point of ``dlbasic`` and ``python -m dlbasic``; returns the exit status."""
    from .train import TrainError
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        parser.print_help()
        return EXIT_USAGE
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:            # --help, --version, or a usage error (already printed)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    args.argv = argv
    try:
        return COMMANDS[args.command](args)
    except TrainError as exc:
        if os.environ.get("RANK", "0") == "0":
            print(f"dlbasic {args.command}: error: {exc}", file=sys.stderr)
        else:
            # in a data-parallel job every rank fails alike and rank 0 says why; give it time
            # to say so before this rank's exit ends the job
            import time
            time.sleep(2)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"dlbasic {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:              # `dlbasic flops ... | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
