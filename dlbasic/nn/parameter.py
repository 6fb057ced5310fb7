from .._tensor import Tensor


class Parameter(Tensor):
    pass


class Buffer(Tensor):
    pass
