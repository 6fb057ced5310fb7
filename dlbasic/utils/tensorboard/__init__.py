"""torch.utils.tensorboard: ``SummaryWriter`` writes scalars, histograms, images and text as
TensorBoard event files, so ``tensorboard --logdir runs`` shows a dlbasic run as it shows a
PyTorch one.

The event-file format and its records come from the ``tensorboard`` package (an optional
extra: ``pip install 'dlbasic[tensorboard]'``); images are encoded as PNG by Pillow (which
matplotlib brings).  Without them, creating a writer raises ImportError saying what to install.
"""
from .writer import SummaryWriter

__all__ = ["SummaryWriter"]
