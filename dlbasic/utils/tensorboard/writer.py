"""``SummaryWriter`` on the ``tensorboard`` package's event-file writer (see ``__init__``).

Each ``add_*`` builds one ``Summary`` record (a tag and a value: a number, a histogram, a PNG
image, a text tensor) inside an ``Event`` carrying the step and the wall time, and hands it to
``EventFileWriter``, which appends it to ``<log_dir>/events.out.tfevents.*`` from a background
thread (``flush`` / ``close`` write what is queued).
"""
import datetime
import io
import os
import socket
import time

import numpy as np

from ..._tensor_base import TensorBase

__all__ = ["SummaryWriter"]

_MISSING = ("dlbasic.utils.tensorboard needs the 'tensorboard' package: pip install "
            "'dlbasic[tensorboard]' (or pip install tensorboard)")


def _tb():
    """The tensorboard modules used here, or ImportError naming what to install."""
    try:
        from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2
        from tensorboard.compat.proto import tensor_shape_pb2
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
    except ImportError as exc:
        raise ImportError(_MISSING) from exc
    return event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2, EventFileWriter


def _array(value, what):
    """A tensor, ndarray, list or number as a float64 (or given) NumPy array."""
    if isinstance(value, TensorBase):
        return value.detach().numpy()
    if isinstance(value, (np.ndarray, list, tuple, int, float, np.number)):
        return np.asarray(value)
    raise TypeError(f"{what}: expected a Tensor, an ndarray or a number, got "
                    f"{type(value).__name__}")


def _scalar(value):
    a = _array(value, "add_scalar")
    if a.size != 1:
        raise ValueError(f"add_scalar: scalar should be 0D, got a value of shape "
                         f"{tuple(a.shape)}")
    return float(a.reshape(()))


def _tensorflow_bins():
    """TensorFlow's default histogram edges: +-1e-12 * 1.1^k up to 1e20, and 0."""
    v = 1e-12
    pos = []
    while v < 1e20:
        pos.append(v)
        v *= 1.1
    pos = np.array(pos)
    return np.concatenate([-pos[::-1], [0.0], pos])


def _to_hwc(img, dataformats):
    """An image array in ``dataformats`` (CHW, HWC, HW, NCHW, ...) as H x W x C, C in 1, 3, 4."""
    fmt = dataformats.upper()
    if img.ndim != len(fmt):
        raise ValueError(f"add_image: dataformats {dataformats!r} expects a {len(fmt)}-D "
                         f"image, got {img.ndim}-D of shape {tuple(img.shape)}")
    if "N" in fmt:                                # a batch: tile it into one grid image
        img = np.moveaxis(img, [fmt.index(c) for c in "NCHW" if c in fmt],
                          range(len([c for c in "NCHW" if c in fmt])))
        if img.ndim == 3:
            img = img[:, None]
        n, c, h, w = img.shape
        cols = int(np.ceil(np.sqrt(n)))
        rows = int(np.ceil(n / cols))
        grid = np.zeros((c, rows * h, cols * w), img.dtype)
        for k in range(n):
            r, q = divmod(k, cols)
            grid[:, r * h:(r + 1) * h, q * w:(q + 1) * w] = img[k]
        img, fmt = grid, "CHW"
    if fmt == "HW":
        img = img[:, :, None]
    elif fmt == "CHW":
        img = np.transpose(img, (1, 2, 0))
    elif fmt != "HWC":
        raise ValueError(f"add_image: unsupported dataformats {dataformats!r} (use CHW, HWC, "
                         f"HW or NCHW/NHWC)")
    if img.shape[2] not in (1, 3, 4):
        raise ValueError(f"add_image: an image has 1, 3 or 4 channels, got {img.shape[2]}")
    return img


def _png(hwc):
    """PNG bytes of an H x W x C uint8 image (Pillow)."""
    try:
        from PIL import Image
    except ImportError as exc:
        raise ImportError("add_image encodes PNG with Pillow: pip install pillow (matplotlib "
                          "brings it)") from exc
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[hwc.shape[2]]
    buf = io.BytesIO()
    Image.fromarray(hwc[:, :, 0] if mode == "L" else hwc, mode=mode).save(buf, format="PNG")
    return buf.getvalue()


class SummaryWriter:
    """torch.utils.tensorboard.SummaryWriter: log what a run measures for TensorBoard.

    ``log_dir`` defaults to ``runs/<date>_<time>_<host><comment>``, as torch's.  Scalars,
    histograms, images and text are supported; ``add_graph``, ``add_embedding``, audio, video,
    meshes and hparams are not (NotImplementedError)."""

    def __init__(self, log_dir=None, comment="", purge_step=None, max_queue=10, flush_secs=120,
                 filename_suffix=""):
        self._pb = _tb()
        if log_dir is None:
            stamp = datetime.datetime.now().strftime("%b%d_%H-%M-%S")
            log_dir = os.path.join("runs", f"{stamp}_{socket.gethostname()}{comment}")
        self.log_dir = os.fspath(log_dir)
        self.purge_step = purge_step
        self.max_queue, self.flush_secs, self.filename_suffix = max_queue, flush_secs, \
            filename_suffix
        self._writer = self._pb[4](self.log_dir, max_queue, flush_secs, filename_suffix)
        self._children = {}
        if purge_step is not None:
            # TensorBoard drops the events after this step left by an earlier, crashed run
            self._writer.add_event(self._pb[0].Event(
                step=int(purge_step), session_log=self._pb[0].SessionLog(
                    status=self._pb[0].SessionLog.START)))

    def get_logdir(self):
        return self.log_dir

    # -- writing ----------------------------------------------------------------------------
    def _event(self, value, global_step, walltime, writer=None):
        event_pb2, summary_pb2 = self._pb[0], self._pb[1]
        event = event_pb2.Event(wall_time=time.time() if walltime is None else float(walltime),
                                summary=summary_pb2.Summary(value=[value]))
        if global_step is not None:
            event.step = int(_scalar(global_step))
        (writer or self._writer).add_event(event)

    def add_scalar(self, tag, scalar_value, global_step=None, walltime=None, new_style=False,
                   double_precision=False):
        """One number (a loss, an accuracy) at ``global_step``."""
        value = self._pb[1].Summary.Value(tag=tag, simple_value=_scalar(scalar_value))
        self._event(value, global_step, walltime)

    def add_scalars(self, main_tag, tag_scalar_dict, global_step=None, walltime=None):
        """Several numbers in one chart: each goes to the sub-run ``<log_dir>/<main_tag>_<tag>``
        under the tag ``main_tag``, as torch writes them."""
        for tag, v in tag_scalar_dict.items():
            path = os.path.join(self.log_dir, f"{main_tag}_{tag}".replace("/", "_"))
            child = self._children.get(path)
            if child is None:
                child = self._children[path] = self._pb[4](path, self.max_queue,
                                                           self.flush_secs,
                                                           self.filename_suffix)
            value = self._pb[1].Summary.Value(tag=main_tag, simple_value=_scalar(v))
            self._event(value, global_step, walltime, child)

    def add_histogram(self, tag, values, global_step=None, bins="tensorflow", walltime=None,
                      max_bins=None):
        """The distribution of ``values`` (weights, gradients); ``bins``: 'tensorflow'
        (TensorFlow's default edges), a number, a NumPy method name or explicit edges."""
        v = _array(values, "add_histogram").astype(np.float64).reshape(-1)
        if v.size == 0:
            raise ValueError("add_histogram: the input has no element")
        edges = _tensorflow_bins() if isinstance(bins, str) and bins == "tensorflow" else bins
        counts, limits = np.histogram(v, bins=edges)
        if isinstance(bins, str) and bins == "tensorflow":
            nz = np.flatnonzero(counts)              # keep the span that holds the values
            lo, hi = max(nz[0] - 1, 0), min(nz[-1] + 2, counts.size)
            counts, limits = counts[lo:hi], limits[lo:hi + 1]
        if max_bins is not None and counts.size > max_bins:
            counts, limits = np.histogram(v, bins=max_bins)      # fewer, equal bins
        proto = self._pb[1].HistogramProto(min=float(v.min()), max=float(v.max()),
                                           num=float(v.size), sum=float(v.sum()),
                                           sum_squares=float(v @ v),
                                           bucket_limit=limits[1:].tolist(),
                                           bucket=counts.astype(np.float64).tolist())
        self._event(self._pb[1].Summary.Value(tag=tag, histo=proto), global_step, walltime)

    def add_image(self, tag, img_tensor, global_step=None, walltime=None, dataformats="CHW"):
        """An image: floats in [0, 1] or uint8 in [0, 255]; shape per ``dataformats``."""
        img = _array(img_tensor, "add_image")
        hwc = _to_hwc(img, dataformats)
        if hwc.dtype != np.uint8:
            hwc = (np.clip(hwc.astype(np.float64), 0, 1) * 255 + 0.5).astype(np.uint8)
        h, w, c = hwc.shape
        image = self._pb[1].Summary.Image(height=h, width=w, colorspace=c,
                                          encoded_image_string=_png(hwc))
        self._event(self._pb[1].Summary.Value(tag=tag, image=image), global_step, walltime)

    def add_images(self, tag, img_tensor, global_step=None, walltime=None, dataformats="NCHW"):
        """A batch of images, shown as one grid."""
        self.add_image(tag, img_tensor, global_step, walltime, dataformats)

    def add_text(self, tag, text_string, global_step=None, walltime=None):
        """Markdown text, in TensorBoard's text plugin."""
        summary_pb2, tensor_pb2, shape_pb2 = self._pb[1], self._pb[2], self._pb[3]
        meta = summary_pb2.SummaryMetadata(
            plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="text"))
        tensor = tensor_pb2.TensorProto(
            dtype="DT_STRING", string_val=[str(text_string).encode("utf-8")],
            tensor_shape=shape_pb2.TensorShapeProto(
                dim=[shape_pb2.TensorShapeProto.Dim(size=1)]))
        value = summary_pb2.Summary.Value(tag=tag + "/text_summary", metadata=meta,
                                          tensor=tensor)
        self._event(value, global_step, walltime)

    def _unsupported(self, what):
        raise NotImplementedError(f"SummaryWriter.{what} is not supported by dlbasic "
                                  "(scalars, histograms, images and text are)")

    def add_graph(self, model, input_to_model=None, verbose=False, use_strict_trace=True):
        self._unsupported("add_graph")

    def add_embedding(self, *args, **kwargs):
        self._unsupported("add_embedding")

    def add_hparams(self, *args, **kwargs):
        self._unsupported("add_hparams")

    def add_audio(self, *args, **kwargs):
        self._unsupported("add_audio")

    def add_video(self, *args, **kwargs):
        self._unsupported("add_video")

    # -- lifetime ---------------------------------------------------------------------------
    def flush(self):
        """Write every queued event to disk."""
        self._writer.flush()
        for child in self._children.values():
            child.flush()

    def close(self):
        """Flush and close the event files (the writer cannot be used afterwards)."""
        self._writer.close()
        for child in self._children.values():
            child.close()
        self._children.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
