"""``make demo``: train a small ResNet on Fashion-MNIST in a few minutes on a laptop CPU.

    python -m dlbasic.demo [--data-dir DIR] [--epochs N] [--out runs/demo]

The run is an ordinary ``dlbasic train`` run (progress bar, per-epoch test accuracy,
``metrics.csv``/``metrics.json``, ``curves.png``, ``last.pt``/``best.pt`` under ``runs/demo``),
with a recipe chosen by measurement to reach >= 90 % test accuracy in under 10 minutes on a
2-core machine: a shallow residual net (``models.mini_resnet``, two ``CifarBasicBlock``s),
batch 128, SGD with Nesterov momentum 0.9 and weight decay 5e-4, a one-cycle learning rate
with peak 0.2.  Ctrl-C saves a checkpoint; ``dlbasic train --out runs/demo --resume``
continues it.
"""
import argparse
import os
import sys
import time

from dlbasic.models import mini_resnet

__all__ = ["RECIPE", "main", "mini_resnet"]

# the recipe (see the module docstring and docs/getting-started.md for how it was chosen)
RECIPE = dict(
    model="mini_resnet", model_kwargs={"widths": [32, 64]},
    dataset="fashion-mnist", epochs=3, batch_size=128, optimizer="sgd", lr=0.2, momentum=0.9,
    nesterov=True, weight_decay=5e-4, schedule="onecycle", augment=False, seed=0, workers=0,
)
TARGET_ACCURACY = 0.90


def _parser():
    p = argparse.ArgumentParser(prog="python -m dlbasic.demo", description=__doc__.split(
        "\n\n")[0])
    p.add_argument("--data-dir", default=None, metavar="DIR",
                   help="directory holding the four Fashion-MNIST IDX files")
    p.add_argument("--out", default=os.path.join("runs", "demo"), metavar="DIR")
    p.add_argument("--epochs", type=int, default=RECIPE["epochs"])
    p.add_argument("--progress", choices=["bar", "lines", "none"], default="bar")
    p.add_argument("--quick", action="store_true",
                   help="a tiny smoke run (1024 training images, 1 epoch): checks the plumbing")
    return p


def main(argv=None):
    args = _parser().parse_args(argv)
    from .train import Trainer, TrainError, MISSING_DATA_HELP, locate_fashion_mnist
    try:
        locate_fashion_mnist(args.data_dir)
    except TrainError:
        where = f" in {args.data_dir}" if args.data_dir else ""
        print(f"dlbasic demo: Fashion-MNIST is not installed{where}.\n"
              f"  To get it: {MISSING_DATA_HELP}.\n"
              "  Then run: python -m dlbasic.demo --data-dir DIR   (or make demo)",
              file=sys.stderr)
        return 2
    config = dict(RECIPE, data_dir=args.data_dir, out=args.out, epochs=args.epochs)
    if args.quick:
        config.update(epochs=1, limit_train=1024, limit_test=1000)
    print("dlbasic demo: a small ResNet on Fashion-MNIST "
          f"({config['epochs']} epochs, {config['optimizer']} + {config['schedule']}); "
          f"outputs in {args.out}/")
    t0 = time.perf_counter()
    try:
        summary = Trainer(config, progress=args.progress, overwrite=True).run()
    except TrainError as exc:
        print(f"dlbasic demo: error: {exc}", file=sys.stderr)
        return 2
    if summary.get("interrupted"):
        return 130
    minutes = (time.perf_counter() - t0) / 60
    acc = summary["test_acc"]
    verdict = "reached" if acc >= TARGET_ACCURACY else "did NOT reach"
    print(f"\ndemo: test accuracy {100 * acc:.2f}% ({verdict} the {100 * TARGET_ACCURACY:.0f}% "
          f"target) in {minutes:.1f} minutes")
    print(f"  curves:     {os.path.join(args.out, 'curves.png')}")
    print(f"  checkpoint: {os.path.join(args.out, 'best.pt')} "
          f"(try: dlbasic eval {os.path.join(args.out, 'best.pt')})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
