"""Recurrent layers: ``RNN`` (tanh / relu), ``LSTM`` (with projections), ``GRU``, and the
one-step cells ``RNNCell``, ``LSTMCell``, ``GRUCell``, with torch's parameters and semantics.

Each layer runs a Python loop over time steps whose body is made of differentiable ops
(linear, sigmoid, tanh, split, cat), so backpropagation through time is simply the autograd
engine walking the unrolled graph.  The input-to-hidden product of a whole sequence is one
GEMM before the loop; only ``h @ W_hh^T`` is left inside it.  The step equations (gate order
as torch stores them in ``weight_ih_l{k}`` / ``weight_hh_l{k}``):

    RNN:   h' = act(W_ih x + b_ih + W_hh h + b_hh),           act = tanh or relu
    LSTM:  i, f, g, o = split(W_ih x + b_ih + W_hh h + b_hh)   (sigmoid, sigmoid, tanh, sigmoid)
           c' = f * c + i * g,   h' = o * tanh(c')   (then h' = W_hr h' with proj_size > 0)
    GRU:   r, z = sigmoid(W_i{r,z} x + b_i{r,z} + W_h{r,z} h + b_h{r,z})
           n = tanh(W_in x + b_in + r * (W_hn h + b_hn)),   h' = (1 - z) * n + z * h

A ``PackedSequence`` input runs step ``t`` on its ``batch_sizes[t]`` still-running sequences
only, so each sequence's final state is the state at its own last step.
"""
import math
import numbers
import warnings

from ... import _creation
from ...ops import elementwise as E
from ...ops import movement as M
from .. import functional as F
from .. import init
from .._packed_sequence import PackedSequence
from ..parameter import Parameter
from .linear import _empty
from .module import Module

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]

_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


# -- one time step ---------------------------------------------------------------------------
# x_proj is W_ih x + b_ih (computed for all steps at once); state is (h,) or (h, c).

def _rnn_tanh_step(x_proj, state, w_hh, b_hh, w_hr):
    h = E.tanh(x_proj + F.linear(state[0], w_hh, b_hh))
    return h, (h,)


def _rnn_relu_step(x_proj, state, w_hh, b_hh, w_hr):
    h = E.relu(x_proj + F.linear(state[0], w_hh, b_hh))
    return h, (h,)


def _lstm_step(x_proj, state, w_hh, b_hh, w_hr):
    h, c = state
    gates = x_proj + F.linear(h, w_hh, b_hh)
    i, f, g, o = M.split(gates, gates.shape[1] // 4, 1)
    c = E.sigmoid(f) * c + E.sigmoid(i) * E.tanh(g)
    h = E.sigmoid(o) * E.tanh(c)
    if w_hr is not None:
        h = F.linear(h, w_hr)          # the projection (Sak et al. 2014, "LSTMP")
    return h, (h, c)


def _gru_step(x_proj, state, w_hh, b_hh, w_hr):
    h = state[0]
    hidden = h.shape[1]
    x_r, x_z, x_n = M.split(x_proj, hidden, 1)
    h_r, h_z, h_n = M.split(F.linear(h, w_hh, b_hh), hidden, 1)
    r = E.sigmoid(x_r + h_r)
    z = E.sigmoid(x_z + h_z)
    n = E.tanh(x_n + r * h_n)
    h = n + z * (h - n)                # = (1 - z) * n + z * h, in torch's order of operations
    return h, (h,)


_STEPS = {"RNN_TANH": _rnn_tanh_step, "RNN_RELU": _rnn_relu_step, "LSTM": _lstm_step,
          "GRU": _gru_step}


def _split_rows(tensors, sizes):
    """Each tensor of ``tensors`` cut along dim 0 into ``sizes``: a list of tuples per piece."""
    if len(sizes) == 1:
        return [tuple(tensors)]
    pieces = [M.split(t, sizes, 0) for t in tensors]
    return [tuple(p[j] for p in pieces) for j in range(len(sizes))]


def _run_direction(step, data, batch_sizes, state, weights, reverse):
    """One layer in one direction over packed rows ``data`` (sum(batch_sizes), in).

    Step t sees the first batch_sizes[t] sequences (the batch sizes never grow with t).
    Forward, sequences that end leave the running batch and their state is final; in
    reverse, the shortest sequences start last, so sequences join with their initial state.
    Returns the outputs (same rows as ``data``) and the final state, in batch order.
    """
    w_ih, w_hh, b_ih, b_hh, w_hr = weights
    x_steps = M.split(F.linear(data, w_ih, b_ih), batch_sizes, 0)
    n_steps = len(batch_sizes)
    outputs = [None] * n_steps
    if not reverse:
        running = state[0].shape[0]
        ended = []
        for t in range(n_steps):
            bs = batch_sizes[t]
            if bs < running:
                state, gone = _split_rows(state, [bs, running - bs])
                ended.append(gone)
                running = bs
            outputs[t], state = step(x_steps[t], state, w_hh, b_hh, w_hr)
        # rows still running come first; the last to end precede the first to end
        if ended:
            state = tuple(M.cat([s] + [g[k] for g in reversed(ended)], 0)
                          for k, s in enumerate(state))
    else:
        joins = sorted(set(batch_sizes))
        initial = iter(_split_rows(state, [b - a for a, b in zip([0] + joins[:-1], joins)]))
        running, state = 0, None
        for t in range(n_steps - 1, -1, -1):
            bs = batch_sizes[t]
            if bs > running:
                new = next(initial)
                state = new if state is None else tuple(M.cat([s, n], 0)
                                                        for s, n in zip(state, new))
                running = bs
            outputs[t], state = step(x_steps[t], state, w_hh, b_hh, w_hr)
    return M.cat(outputs, 0), state


# -- the multi-layer modules -----------------------------------------------------------------
class RNNBase(Module):
    """Shared constructor, parameters, checks and the layer/direction loop of RNN, LSTM, GRU.

    Parameters per layer k (``_reverse`` for the backward direction), torch's names/layout:
    weight_ih_l{k} (gates*hidden, in), weight_hh_l{k} (gates*hidden, out), bias_ih_l{k},
    bias_hh_l{k} (gates*hidden), weight_hr_l{k} (proj_size, hidden) for an LSTM with
    proj_size > 0; out = proj_size or hidden_size.  All init U(-1/sqrt(hidden), 1/sqrt(hidden)).
    """

    _input_dim_msg = "{name}: Expected input to be 2D or 3D, got {dim}D instead"

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, proj_size=0,
                 device=None, dtype=None):
        super().__init__()
        if (not isinstance(dropout, numbers.Number) or isinstance(dropout, bool)
                or not 0 <= dropout <= 1):
            raise ValueError("dropout should be a number in range [0, 1] representing the "
                             "probability of an element being zeroed")
        if dropout > 0 and num_layers == 1:
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so "
                          "non-zero dropout expects num_layers greater than 1, but got "
                          f"dropout={dropout} and num_layers={num_layers}", stacklevel=2)
        for name, value, kind in (("bias", bias, bool), ("batch_first", batch_first, bool),
                                  ("input_size", input_size, int)):
            if not isinstance(value, kind):
                raise TypeError(f"{name} should be of type {kind.__name__}, got: "
                                f"{type(value).__name__}")
        if input_size <= 0:
            raise ValueError("input_size must be greater than zero")
        if not isinstance(hidden_size, int):
            raise TypeError(f"hidden_size should be of type int, got: "
                            f"{type(hidden_size).__name__}")
        if hidden_size <= 0:
            raise ValueError("hidden_size must be greater than zero")
        if num_layers <= 0:
            raise ValueError("num_layers must be greater than zero")
        if proj_size < 0:
            raise ValueError("proj_size should be a positive integer or zero to disable "
                             "projections")
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        if mode not in _GATES:
            raise ValueError("Unrecognized RNN mode: " + mode)
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size

        gate_size = _GATES[mode] * hidden_size
        out_size = proj_size if proj_size > 0 else hidden_size
        directions = 2 if bidirectional else 1
        self._flat_weights_names = []
        self._all_weights = []
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else out_size * directions
            for direction in range(directions):
                suffix = f"_l{layer}" + ("_reverse" if direction == 1 else "")
                shapes = [("weight_ih", (gate_size, layer_input)),
                          ("weight_hh", (gate_size, out_size))]
                if bias:
                    shapes += [("bias_ih", (gate_size,)), ("bias_hh", (gate_size,))]
                if proj_size > 0:
                    shapes += [("weight_hr", (proj_size, hidden_size))]
                names = []
                for base, shape in shapes:
                    setattr(self, base + suffix, Parameter(_empty(shape, device, dtype)))
                    names.append(base + suffix)
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
        self.reset_parameters()

    def reset_parameters(self):
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def flatten_parameters(self):
        """A no-op: torch packs the weights into one buffer for cuDNN; dlbasic runs on NumPy."""

    @property
    def _flat_weights(self):
        return [getattr(self, name, None) for name in self._flat_weights_names]

    @property
    def all_weights(self):
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    def _layer_weights(self, layer, direction):
        suffix = f"_l{layer}" + ("_reverse" if direction == 1 else "")
        p = self._parameters
        return (p["weight_ih" + suffix], p["weight_hh" + suffix], p.get("bias_ih" + suffix),
                p.get("bias_hh" + suffix), p.get("weight_hr" + suffix))

    # -- checks (torch's messages) ---------------------------------------------------------
    def check_input(self, input, batch_sizes):
        w = self._flat_weights[0]
        if input.dtype != w.dtype:
            raise ValueError(f"RNN input dtype ({input.dtype}) does not match weight dtype "
                             f"({w.dtype}). Convert input: input.to({w.dtype}), or convert "
                             f"model: model.to({input.dtype})")
        expected_dim = 2 if batch_sizes is not None else 3
        if input.dim() != expected_dim:
            raise RuntimeError(f"input must have {expected_dim} dimensions, got {input.dim()}")
        if self.input_size != input.shape[-1]:
            raise RuntimeError(f"input.size(-1) must be equal to input_size. Expected "
                               f"{self.input_size}, got {input.shape[-1]}")

    def get_expected_hidden_size(self, input, batch_sizes):
        if batch_sizes is not None:
            mini_batch = int(batch_sizes[0])
        else:
            mini_batch = input.shape[0] if self.batch_first else input.shape[1]
        directions = 2 if self.bidirectional else 1
        size = self.proj_size if self.proj_size > 0 else self.hidden_size
        return (self.num_layers * directions, mini_batch, size)

    def check_hidden_size(self, hx, expected_hidden_size, msg="Expected hidden size {}, got {}"):
        if tuple(hx.shape) != tuple(expected_hidden_size):
            raise RuntimeError(msg.format(tuple(expected_hidden_size), list(hx.shape)))

    def check_forward_args(self, input, hidden, batch_sizes):
        self.check_input(input, batch_sizes)
        self.check_hidden_size(hidden, self.get_expected_hidden_size(input, batch_sizes))

    def permute_hidden(self, hx, permutation):
        if permutation is None:
            return hx
        return M.index_select(hx, 1, permutation)

    def _zero_state(self, input, batch):
        directions = 2 if self.bidirectional else 1
        return _creation.zeros(self.num_layers * directions, batch, self.hidden_size,
                               dtype=input.dtype)

    def _check_hx_dims(self, hx, is_batched):
        want = 3 if is_batched else 2
        if hx.dim() != want:
            what = "batched 3-D" if is_batched else "unbatched 2-D"
            raise RuntimeError(f"For {what} input, hx should also be {want}-D but got "
                               f"{hx.dim()}-D tensor")

    # -- the run ---------------------------------------------------------------------------
    def _run(self, data, batch_sizes, states):
        """All layers and directions over packed rows; returns (output rows, final states)."""
        step = _STEPS[self.mode]
        directions = 2 if self.bidirectional else 1
        initial = [M.unbind(s, 0) for s in states]
        finals = [[] for _ in states]
        layer_input = data
        for layer in range(self.num_layers):
            outs = []
            for direction in range(directions):
                k = layer * directions + direction
                out, state = _run_direction(step, layer_input, batch_sizes,
                                            tuple(s[k] for s in initial),
                                            self._layer_weights(layer, direction),
                                            reverse=direction == 1)
                outs.append(out)
                for f, s in zip(finals, state):
                    f.append(s)
            layer_input = outs[0] if directions == 1 else M.cat(outs, 1)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, True)
        return layer_input, tuple(M.stack(f, 0) for f in finals)

    def _forward(self, input, hx):
        """The shared forward; ``hx`` is a tuple of state tensors ((h,) or (h, c)) or None."""
        is_lstm = self.mode == "LSTM"
        if isinstance(input, PackedSequence):
            data, batch_sizes_t, sorted_indices, unsorted_indices = input
            batch_sizes = [int(b) for b in batch_sizes_t._data.reshape(-1)]
            if hx is None:
                hx = self._initial_state(data, batch_sizes[0])
            else:
                hx = self.permute_hidden(hx if is_lstm else hx[0], sorted_indices)
                hx = hx if is_lstm else (hx,)
            self.check_forward_args(data, hx if is_lstm else hx[0], batch_sizes)
            out, finals = self._run(data, batch_sizes, hx)
            output = PackedSequence(out, batch_sizes_t, sorted_indices, unsorted_indices)
            hidden = finals if is_lstm else finals[0]
            return output, self.permute_hidden(hidden, unsorted_indices)

        if input.dim() not in (2, 3):
            raise ValueError(self._input_dim_msg.format(name=type(self).__name__,
                                                        dim=input.dim()))
        is_batched = input.dim() == 3
        batch_dim = 0 if self.batch_first else 1
        if not is_batched:
            input = M.unsqueeze(input, batch_dim)
        if hx is not None:
            self._check_hx_dims(hx if is_lstm else hx[0], is_batched)
            if not is_batched:
                hx = tuple(M.unsqueeze(h, 1) for h in hx)
        else:
            hx = self._initial_state(input, input.shape[batch_dim])
        self.check_forward_args(input, hx if is_lstm else hx[0], None)
        x = M.transpose(input, 0, 1) if self.batch_first else input
        steps, batch = x.shape[0], x.shape[1]
        rows = M.reshape(x, (steps * batch, x.shape[2]))
        out, finals = self._run(rows, [batch] * steps, hx)
        output = M.reshape(out, (steps, batch, out.shape[1]))
        if self.batch_first:
            output = M.transpose(output, 0, 1)
        if not is_batched:
            output = M.squeeze(output, batch_dim)
            finals = tuple(M.squeeze(f, 1) for f in finals)
        return output, (finals if is_lstm else finals[0])

    def _initial_state(self, input, batch):
        return (self._zero_state(input, batch),)

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s


def _no_proj_size(cls_kwargs):
    if "proj_size" in cls_kwargs:
        raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
    if cls_kwargs:
        raise TypeError(f"__init__() got an unexpected keyword argument "
                        f"'{next(iter(cls_kwargs))}'")


class RNN(RNNBase):
    """Elman RNN: h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), act = tanh or relu.

    forward(input, hx=None) -> (output, h_n); input (L, N, H_in) ((N, L, H_in) with
    batch_first, (L, H_in) unbatched, or a PackedSequence); output (L, N, D*H_out) holds the
    last layer's h_t; h_n (D*num_layers, N, H_out) the final state of every layer.
    """

    _input_dim_msg = "{name}: Expected input to be 2D or 3D, got {dim}D tensor instead"

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, device=None, dtype=None,
                 **kwargs):
        _no_proj_size(kwargs)
        if nonlinearity == "tanh":
            mode = "RNN_TANH"
        elif nonlinearity == "relu":
            mode = "RNN_RELU"
        else:
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or "
                             f"'relu'.")
        super().__init__(mode, input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        return self._forward(input, None if hx is None else (hx,))


class LSTM(RNNBase):
    """Long short-term memory (Hochreiter & Schmidhuber 1997), torch's gate order i, f, g, o.

    forward(input, (h_0, c_0)=None) -> (output, (h_n, c_n)); with proj_size > 0 the hidden
    state (and output) has proj_size features: h_t = W_hr (o_t * tanh(c_t)).
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, proj_size, device=device, dtype=dtype)

    def get_expected_cell_size(self, input, batch_sizes):
        if batch_sizes is not None:
            mini_batch = int(batch_sizes[0])
        else:
            mini_batch = input.shape[0] if self.batch_first else input.shape[1]
        directions = 2 if self.bidirectional else 1
        return (self.num_layers * directions, mini_batch, self.hidden_size)

    def check_forward_args(self, input, hidden, batch_sizes):
        self.check_input(input, batch_sizes)
        self.check_hidden_size(hidden[0], self.get_expected_hidden_size(input, batch_sizes),
                               "Expected hidden[0] size {}, got {}")
        self.check_hidden_size(hidden[1], self.get_expected_cell_size(input, batch_sizes),
                               "Expected hidden[1] size {}, got {}")

    def permute_hidden(self, hx, permutation):
        if permutation is None:
            return hx
        return M.index_select(hx[0], 1, permutation), M.index_select(hx[1], 1, permutation)

    def _initial_state(self, input, batch):
        directions = 2 if self.bidirectional else 1
        out_size = self.proj_size if self.proj_size > 0 else self.hidden_size
        h = _creation.zeros(self.num_layers * directions, batch, out_size, dtype=input.dtype)
        return h, self._zero_state(input, batch)

    def _check_hx_dims(self, hx, is_batched):
        want = 3 if is_batched else 2
        if hx[0].dim() != want or hx[1].dim() != want:
            what = "batched 3-D" if is_batched else "unbatched 2-D"
            raise RuntimeError(f"For {what} input, hx and cx should also be {want}-D but got "
                               f"({hx[0].dim()}-D, {hx[1].dim()}-D) tensors")

    def forward(self, input, hx=None):
        if hx is not None:
            hx = tuple(hx)
        return self._forward(input, hx)


class GRU(RNNBase):
    """Gated recurrent unit (Cho et al. 2014), torch's gate order r, z, n and its form
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn)).

    forward(input, hx=None) -> (output, h_n), shapes as for ``RNN``.
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None, **kwargs):
        _no_proj_size(kwargs)
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        return self._forward(input, None if hx is None else (hx,))


# -- cells -----------------------------------------------------------------------------------
class RNNCellBase(Module):
    """Parameters of a one-step cell: weight_ih (chunks*hidden, in), weight_hh
    (chunks*hidden, hidden), bias_ih, bias_hh (chunks*hidden); init U(+-1/sqrt(hidden))."""

    def __init__(self, input_size, hidden_size, bias, num_chunks, device=None, dtype=None):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        self.weight_ih = Parameter(_empty((num_chunks * hidden_size, input_size), device,
                                          dtype))
        self.weight_hh = Parameter(_empty((num_chunks * hidden_size, hidden_size), device,
                                          dtype))
        if bias:
            self.bias_ih = Parameter(_empty((num_chunks * hidden_size,), device, dtype))
            self.bias_hh = Parameter(_empty((num_chunks * hidden_size,), device, dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s

    def reset_parameters(self):
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def _batched(self, input, states, names):
        """Unsqueeze unbatched (1-D) input and states; check sizes like torch's kernels.

        ``states`` are the given hidden tensors or None; returns (input, states, is_batched).
        """
        cls = type(self).__name__
        if input.dim() not in (1, 2):
            raise ValueError(f"{cls}: Expected input to be 1D or 2D, got {input.dim()}D "
                             f"instead")
        if states is not None:
            for name, s in zip(names, states):
                if s.dim() not in (1, 2):
                    raise ValueError(f"{cls}: Expected {name} to be 1D or 2D, got {s.dim()}D "
                                     f"instead")
        is_batched = input.dim() == 2
        if not is_batched:
            input = M.unsqueeze(input, 0)
        if states is None:
            zeros = _creation.zeros(input.shape[0], self.hidden_size, dtype=input.dtype)
            states = (zeros,) * len(names)
        elif not is_batched:
            states = tuple(M.unsqueeze(s, 0) for s in states)
        if input.shape[1] != self.input_size:
            raise RuntimeError(f"input has inconsistent input_size: got {input.shape[1]} "
                               f"expected {self.input_size}")
        for label, s in enumerate(states):
            if s.dim() != 2 or input.shape[0] != s.shape[0]:
                raise RuntimeError(f"Input batch size {input.shape[0]} doesn't match hidden"
                                   f"{label} batch size {s.shape[0]}")
            if s.shape[1] != self.hidden_size:
                raise RuntimeError(f"hidden{label} has inconsistent hidden_size: got "
                                   f"{s.shape[1]}, expected {self.hidden_size}")
        return input, states, is_batched

    def _step(self, step, input, states):
        x_proj = F.linear(input, self.weight_ih, self.bias_ih)
        return step(x_proj, states, self.weight_hh, self.bias_hh, None)[1]


class RNNCell(RNNCellBase):
    """One step of an Elman RNN: h' = act(W_ih x + b_ih + W_hh h + b_hh)."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None,
                 dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=1, device=device,
                         dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        input, states, is_batched = self._batched(input, None if hx is None else (hx,),
                                                  ("hidden",))
        if self.nonlinearity == "tanh":
            step = _rnn_tanh_step
        elif self.nonlinearity == "relu":
            step = _rnn_relu_step
        else:
            raise RuntimeError(f"Unknown nonlinearity: {self.nonlinearity}")
        h = self._step(step, input, states)[0]
        return h if is_batched else M.squeeze(h, 0)


class LSTMCell(RNNCellBase):
    """One LSTM step: (h', c') from x and (h, c); gate order i, f, g, o."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=4, device=device,
                         dtype=dtype)

    def forward(self, input, hx=None):
        input, states, is_batched = self._batched(input, None if hx is None else tuple(hx),
                                                  ("hx[0]", "hx[1]"))
        h, c = self._step(_lstm_step, input, states)
        return (h, c) if is_batched else (M.squeeze(h, 0), M.squeeze(c, 0))


class GRUCell(RNNCellBase):
    """One GRU step: h' = (1 - z) * n + z * h, gate order r, z, n."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=3, device=device,
                         dtype=dtype)

    def forward(self, input, hx=None):
        input, states, is_batched = self._batched(input, None if hx is None else (hx,),
                                                  ("hidden",))
        h = self._step(_gru_step, input, states)[0]
        return h if is_batched else M.squeeze(h, 0)
