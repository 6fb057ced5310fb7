"""SummaryWriter's event files read back by TensorBoard's own reader: scalars, grouped
scalars, histograms, images, text; torch's default log_dir; unsupported records say so."""
import os

import numpy as np
import pytest

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa

import dlbasic
from dlbasic.utils.tensorboard import SummaryWriter


def _read(path):
    acc = EventAccumulator(str(path), size_guidance={"scalars": 0, "histograms": 0,
                                                     "images": 0, "tensors": 0})
    acc.Reload()
    return acc


def test_scalars_read_back_with_their_steps(tmp_path):
    with SummaryWriter(tmp_path) as w:
        for step in range(5):
            w.add_scalar("loss/train", 1.0 / (step + 1), step)
        w.add_scalar("acc", dlbasic.tensor(0.75), global_step=dlbasic.tensor(3))
        w.add_scalar("np", np.float32(2.5), 1)
    acc = _read(tmp_path)
    events = acc.Scalars("loss/train")
    assert [e.step for e in events] == list(range(5))
    np.testing.assert_allclose([e.value for e in events], [1.0 / (s + 1) for s in range(5)],
                               rtol=1e-6)
    assert acc.Scalars("acc")[0].value == 0.75 and acc.Scalars("acc")[0].step == 3
    assert acc.Scalars("np")[0].value == 2.5


def test_add_scalars_writes_one_sub_run_per_tag_as_torch(tmp_path):
    with SummaryWriter(tmp_path) as w:
        w.add_scalars("loss", {"train": 0.5, "test": 0.7}, 2)
    for tag, value in (("train", 0.5), ("test", 0.7)):
        sub = tmp_path / f"loss_{tag}"
        assert sub.is_dir()
        e = _read(sub).Scalars("loss")[0]
        assert e.step == 2 and abs(e.value - value) < 1e-6


def test_histogram_counts_every_value(tmp_path):
    values = np.random.default_rng(0).standard_normal(1000)
    with SummaryWriter(tmp_path) as w:
        w.add_histogram("w", dlbasic.tensor(values), 7)
        w.add_histogram("w10", values, 7, bins=10)
        w.add_histogram("few", values, 7, bins="auto", max_bins=5)
    acc = _read(tmp_path)
    for tag in ("w", "w10", "few"):
        h = acc.Histograms(tag)[0]
        assert h.step == 7
        hv = h.histogram_value
        assert hv.num == 1000 and sum(hv.bucket) == 1000
        assert abs(hv.sum - values.sum()) < 1e-9 and abs(hv.min - values.min()) < 1e-12
        assert abs(hv.sum_squares - (values ** 2).sum()) < 1e-8
    assert len(acc.Histograms("w10")[0].histogram_value.bucket) == 10
    assert len(acc.Histograms("few")[0].histogram_value.bucket) <= 5


@pytest.mark.parametrize("img, fmt, shape", [
    (np.random.default_rng(1).random((3, 8, 6)), "CHW", (8, 6, 3)),
    (np.random.default_rng(1).random((8, 6)), "HW", (8, 6, 1)),
    ((np.random.default_rng(1).random((5, 4, 3)) * 255).astype(np.uint8), "HWC", (5, 4, 3)),
])
def test_images_decode_to_what_was_logged(tmp_path, img, fmt, shape):
    from PIL import Image
    import io
    with SummaryWriter(tmp_path) as w:
        w.add_image("img", dlbasic.tensor(img) if img.dtype != np.uint8 else img, 1,
                    dataformats=fmt)
    ev = _read(tmp_path).Images("img")[0]
    assert (ev.height, ev.width) == shape[:2]
    decoded = np.asarray(Image.open(io.BytesIO(ev.encoded_image_string)))
    want = img if img.dtype == np.uint8 else (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)
    if fmt == "CHW":
        want = np.transpose(want, (1, 2, 0))
    np.testing.assert_array_equal(decoded.reshape(shape), want.reshape(shape))


def test_a_batch_of_images_is_one_grid(tmp_path):
    with SummaryWriter(tmp_path) as w:
        w.add_images("batch", np.random.default_rng(2).random((4, 1, 5, 5)), 0)
    ev = _read(tmp_path).Images("batch")[0]
    assert (ev.height, ev.width) == (10, 10)


def test_text_is_in_tensorboards_text_plugin(tmp_path):
    with SummaryWriter(tmp_path) as w:
        w.add_text("notes", "epoch **1** done", 1)
    acc = _read(tmp_path)
    t = acc.Tensors("notes/text_summary")[0]
    assert t.tensor_proto.string_val[0].decode() == "epoch **1** done"


def test_default_log_dir_is_under_runs_like_torch(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    w = SummaryWriter(comment="_lr0.1")
    w.close()
    assert w.get_logdir().startswith("runs" + os.sep) and w.get_logdir().endswith("_lr0.1")
    assert any(n.startswith("events.out.tfevents.") for n in os.listdir(w.get_logdir()))


def test_unsupported_records_and_bad_values_say_so(tmp_path):
    with SummaryWriter(tmp_path) as w:
        with pytest.raises(NotImplementedError, match="add_graph is not supported"):
            w.add_graph(dlbasic.nn.Linear(2, 2), dlbasic.zeros(1, 2))
        with pytest.raises(ValueError, match="scalar should be 0D"):
            w.add_scalar("x", dlbasic.zeros(3))
        with pytest.raises(ValueError, match="1, 3 or 4 channels"):
            w.add_image("x", np.zeros((2, 4, 4)))
        with pytest.raises(TypeError, match="expected a Tensor"):
            w.add_histogram("x", "abc")
