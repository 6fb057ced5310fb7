"""Image transforms (torchvision.transforms): callables applied to one sample.

Images come as NumPy arrays (H, W) / (H, W, C) -- what our datasets return --, as PIL images
when Pillow is installed, or as tensors (..., C, H, W) after ``ToTensor``. Geometric
transforms keep the input's kind. Random transforms draw from dlbasic's default generator, so
``dlbasic.manual_seed`` makes them reproducible (and each DataLoader worker is seeded).
"""
import numbers

import numpy as np

from .._tensor import Tensor
from .._random import _rng

__all__ = ["Compose", "ToTensor", "Normalize", "Pad", "RandomCrop", "CenterCrop",
           "RandomHorizontalFlip", "RandomVerticalFlip", "Lambda"]

_PADDING_MODES = ("constant", "edge", "reflect", "symmetric")


def _is_pil(img):
    try:
        from PIL import Image
    except ImportError:
        return False
    return isinstance(img, Image.Image)


class _Image:
    """An image as an ndarray plus where its H and W axes are, and how to give it back."""

    def __init__(self, img):
        self.kind = "tensor" if isinstance(img, Tensor) else "pil" if _is_pil(img) else "array"
        if self.kind == "tensor":
            self.arr = img._data
            self.h_axis, self.w_axis = self.arr.ndim - 2, self.arr.ndim - 1
        elif self.kind == "pil":
            self.mode = img.mode
            self.arr = np.asarray(img)
            self.h_axis, self.w_axis = 0, 1
        elif isinstance(img, np.ndarray):
            self.arr = img
            self.h_axis, self.w_axis = 0, 1
        else:
            raise TypeError(f"img should be PIL Image, ndarray or Tensor. Got {type(img)}")
        if self.arr.ndim < 2:
            raise ValueError(f"image should have at least 2 dimensions, got shape "
                             f"{self.arr.shape}")

    @property
    def size(self):
        return self.arr.shape[self.h_axis], self.arr.shape[self.w_axis]

    def wrap(self, arr):
        if self.kind == "tensor":
            return Tensor._make(np.ascontiguousarray(arr))
        if self.kind == "pil":
            from PIL import Image
            return Image.fromarray(np.ascontiguousarray(arr))
        return np.ascontiguousarray(arr)

    def crop(self, top, left, height, width):
        index = [slice(None)] * self.arr.ndim
        index[self.h_axis] = slice(top, top + height)
        index[self.w_axis] = slice(left, left + width)
        return self.wrap(self.arr[tuple(index)])


def _pad(img, padding, fill=0, padding_mode="constant"):
    if not isinstance(padding, (numbers.Number, tuple, list)):
        raise TypeError("Got inappropriate padding arg")
    if not isinstance(fill, (numbers.Number, tuple, list)):
        raise TypeError("Got inappropriate fill arg")
    if padding_mode not in _PADDING_MODES:
        raise ValueError("Padding mode should be either constant, edge, reflect or symmetric")
    if isinstance(padding, numbers.Number):
        padding = [int(padding)]
    padding = list(padding)
    if len(padding) not in (1, 2, 4):
        raise ValueError(f"Padding must be an int or a 1, 2, or 4 element tuple, not a "
                         f"{len(padding)} element tuple")
    if len(padding) == 1:
        left = top = right = bottom = padding[0]
    elif len(padding) == 2:
        left = right = padding[0]
        top = bottom = padding[1]
    else:
        left, top, right, bottom = padding
    im = _Image(img)
    widths = [(0, 0)] * im.arr.ndim
    widths[im.h_axis] = (top, bottom)
    widths[im.w_axis] = (left, right)
    if padding_mode != "constant":
        return im.wrap(np.pad(im.arr, widths, mode=padding_mode))
    if isinstance(fill, numbers.Number):
        return im.wrap(np.pad(im.arr, widths, mode="constant", constant_values=fill))
    # one fill value per channel: channels are the last axis of arrays, axis -3 of tensors
    c_axis = im.arr.ndim - 3 if im.kind == "tensor" else 2
    if im.arr.ndim < 3 or len(fill) != im.arr.shape[c_axis]:
        raise ValueError(f"fill has {len(fill)} values but the image has shape "
                         f"{im.arr.shape}")
    channels = [np.pad(np.take(im.arr, c, axis=c_axis),
                       [w for a, w in enumerate(widths) if a != c_axis],
                       mode="constant", constant_values=v) for c, v in enumerate(fill)]
    return im.wrap(np.stack(channels, axis=c_axis))


def _size_pair(size, name="size"):
    if isinstance(size, numbers.Number):
        return int(size), int(size)
    size = tuple(size)
    if len(size) == 1:
        return int(size[0]), int(size[0])
    if len(size) != 2:
        raise ValueError("Please provide only two dimensions (h, w) for size.")
    return int(size[0]), int(size[1])


class Compose:
    """Apply transforms one after the other."""

    def __init__(self, transforms):
        self.transforms = transforms

    def __call__(self, img):
        for t in self.transforms:
            img = t(img)
        return img

    def __repr__(self):
        body = "".join(f"\n    {t}" for t in self.transforms)
        return f"{self.__class__.__name__}({body}\n)"


class ToTensor:
    """(H, W) or (H, W, C) image -> (C, H, W) tensor; uint8 is scaled to float32 in [0, 1]."""

    def __call__(self, pic):
        if _is_pil(pic):
            arr = np.array(pic)
            if pic.mode == "1":
                arr = arr.astype(np.uint8) * 255
        elif isinstance(pic, np.ndarray):
            if pic.ndim not in (2, 3):
                raise ValueError(f"pic should be 2/3 dimensional. Got {pic.ndim} dimensions.")
            arr = pic
        else:
            raise TypeError(f"pic should be PIL Image or ndarray. Got {type(pic)}")
        if arr.ndim == 2:
            arr = arr[:, :, None]
        chw = np.ascontiguousarray(arr.transpose(2, 0, 1))
        if chw.dtype == np.uint8:
            # float32 division, exactly as torchvision computes it
            return Tensor._make(chw.astype(np.float32) / np.float32(255))
        return Tensor._make(chw)

    def __repr__(self):
        return f"{self.__class__.__name__}()"


class Normalize:
    """``(x - mean[c]) / std[c]`` per channel of a (..., C, H, W) float tensor."""

    def __init__(self, mean, std, inplace=False):
        self.mean = mean
        self.std = std
        self.inplace = inplace

    def __call__(self, tensor):
        if not isinstance(tensor, Tensor):
            raise TypeError(f"Input tensor should be a torch tensor. Got {type(tensor)}.")
        if not tensor.is_floating_point():
            raise TypeError(f"Input tensor should be a float tensor. Got {tensor.dtype}.")
        if tensor.ndim < 3:
            raise ValueError(f"Expected tensor to be a tensor image of size (..., C, H, W). Got "
                             f"tensor.size() = {tensor.size()}")
        np_dtype = tensor._data.dtype
        mean = np.asarray(self.mean._data if isinstance(self.mean, Tensor) else self.mean,
                          dtype=np_dtype)
        std = np.asarray(self.std._data if isinstance(self.std, Tensor) else self.std,
                         dtype=np_dtype)
        if (std == 0).any():
            raise ValueError(f"std evaluated to zero after conversion to {tensor.dtype}, "
                             f"leading to division by zero.")
        if mean.ndim == 1:
            mean = mean.reshape(-1, 1, 1)
        if std.ndim == 1:
            std = std.reshape(-1, 1, 1)
        mean_t, std_t = Tensor._make(mean), Tensor._make(std)
        if self.inplace:
            return tensor.sub_(mean_t).div_(std_t)
        return (tensor - mean_t) / std_t

    def __repr__(self):
        return f"{self.__class__.__name__}(mean={self.mean}, std={self.std})"


class Pad:
    """Pad the borders: ``padding`` is an int, (left/right, top/bottom) or (l, t, r, b)."""

    def __init__(self, padding, fill=0, padding_mode="constant"):
        if not isinstance(padding, (numbers.Number, tuple, list)):
            raise TypeError("Got inappropriate padding arg")
        if not isinstance(fill, (numbers.Number, tuple, list)):
            raise TypeError("Got inappropriate fill arg")
        if padding_mode not in _PADDING_MODES:
            raise ValueError("Padding mode should be either constant, edge, reflect or "
                             "symmetric")
        if isinstance(padding, (tuple, list)) and len(padding) not in (1, 2, 4):
            raise ValueError(f"Padding must be an int or a 1, 2, or 4 element tuple, not a "
                             f"{len(padding)} element tuple")
        self.padding = padding
        self.fill = fill
        self.padding_mode = padding_mode

    def __call__(self, img):
        return _pad(img, self.padding, self.fill, self.padding_mode)

    def __repr__(self):
        return (f"{self.__class__.__name__}(padding={self.padding}, fill={self.fill}, "
                f"padding_mode={self.padding_mode})")


class RandomCrop:
    """Crop a random ``size`` window, after optional padding (the classic CIFAR/MNIST
    augmentation: ``RandomCrop(28, padding=4)``)."""

    def __init__(self, size, padding=None, pad_if_needed=False, fill=0,
                 padding_mode="constant"):
        self.size = _size_pair(size)
        self.padding = padding
        self.pad_if_needed = pad_if_needed
        self.fill = fill
        self.padding_mode = padding_mode

    @staticmethod
    def get_params(img, output_size):
        h, w = _Image(img).size
        th, tw = output_size
        if h < th or w < tw:
            raise ValueError(f"Required crop size {(th, tw)} is larger than input image size "
                             f"{(h, w)}")
        if w == tw and h == th:
            return 0, 0, h, w
        rng = _rng(None)
        i = int(rng.integers(0, h - th + 1))
        j = int(rng.integers(0, w - tw + 1))
        return i, j, th, tw

    def __call__(self, img):
        if self.padding is not None:
            img = _pad(img, self.padding, self.fill, self.padding_mode)
        h, w = _Image(img).size
        th, tw = self.size
        if self.pad_if_needed and w < tw:
            img = _pad(img, [tw - w, 0], self.fill, self.padding_mode)
        if self.pad_if_needed and h < th:
            img = _pad(img, [0, th - h], self.fill, self.padding_mode)
        i, j, th, tw = self.get_params(img, self.size)
        return _Image(img).crop(i, j, th, tw)

    def __repr__(self):
        return f"{self.__class__.__name__}(size={self.size}, padding={self.padding})"


class CenterCrop:
    """Crop the central ``size`` window (zero-padding first when the image is smaller)."""

    def __init__(self, size):
        self.size = _size_pair(size)

    def __call__(self, img):
        th, tw = self.size
        h, w = _Image(img).size
        if th > h or tw > w:
            img = _pad(img, [(tw - w) // 2 if tw > w else 0, (th - h) // 2 if th > h else 0,
                             (tw - w + 1) // 2 if tw > w else 0,
                             (th - h + 1) // 2 if th > h else 0])
            h, w = _Image(img).size
        top = int(round((h - th) / 2.0))
        left = int(round((w - tw) / 2.0))
        return _Image(img).crop(top, left, th, tw)

    def __repr__(self):
        return f"{self.__class__.__name__}(size={self.size})"


class RandomHorizontalFlip:
    """Mirror left-right with probability ``p``."""

    _axis = "w_axis"

    def __init__(self, p=0.5):
        self.p = p

    def __call__(self, img):
        if _rng(None).random() < self.p:
            im = _Image(img)
            return im.wrap(np.flip(im.arr, axis=getattr(im, self._axis)))
        return img

    def __repr__(self):
        return f"{self.__class__.__name__}(p={self.p})"


class RandomVerticalFlip(RandomHorizontalFlip):
    """Mirror top-bottom with probability ``p``."""

    _axis = "h_axis"


class Lambda:
    """Wrap a user function as a transform."""

    def __init__(self, lambd):
        if not callable(lambd):
            raise TypeError(f"Argument lambd should be callable, got "
                            f"{repr(type(lambd).__name__)}")
        self.lambd = lambd

    def __call__(self, img):
        return self.lambd(img)

    def __repr__(self):
        return f"{self.__class__.__name__}()"
