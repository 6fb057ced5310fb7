"""The profiler's report: per-module rows, totals, and text / JSON / CSV output."""
import csv
import io
import json

__all__ = ["Report", "CONVENTIONS"]

CONVENTIONS = (
    "FLOPs = 2 x MACs for conv / linear / matmul (DL_basic.md: one output costs kh*kw*cin "
    "multiplies and about as many adds). MACs are shown too: fvcore, thop, ptflops and "
    "torchvision publish MACs under the name 'FLOPs'.",
    "count='matmul': conv / linear / matmul only (equals torch.utils.flop_counter); "
    "count='all': plus an elementwise bucket (BatchNorm 2/element in eval, 6 in training; ReLU 1; "
    "add 1; bias 1 per output; pooling k*k per output) and transcendental evaluations "
    "(exp/log/tanh/...) listed separately.",
    "exact=True: the notes' per-output count 2K-1 (+1 with bias) instead of 2K.",
    "Backward: 2 x MACs for the input gradient plus 2 x MACs for the weight gradient, each only "
    "when needed (so about 2 x forward); elementwise backward ~ forward per input gradient. "
    "Training step = forward + backward (optimizer update not included).",
    "Rows are inclusive of their submodules; 'self' columns hold what a module's own code ran. "
    "Parameters: shared tensors counted once.",
)


def _fmt_int(n):
    return f"{int(n):,}"


def _human(n, unit=""):
    n = float(n)
    for scale, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= scale:
            return f"{n / scale:.2f} {suffix}{unit}"
    return f"{n:.0f} {unit}"


def _shape_text(shape):
    if shape is None:
        return ""
    if isinstance(shape, tuple):
        return "[" + ", ".join(str(s) for s in shape) + "]"
    if isinstance(shape, list):
        return "(" + ", ".join(_shape_text(s) for s in shape) + ")"
    if isinstance(shape, dict):
        return "{" + ", ".join(f"{k}: {_shape_text(v)}" for k, v in shape.items()) + "}"
    return str(shape)


def _count_params(module):
    """(trainable, frozen, buffers): element counts, each tensor counted once."""
    seen = set()
    trainable = frozen = 0
    for p in module.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        if p.requires_grad:
            trainable += p.numel()
        else:
            frozen += p.numel()
    buffers = 0
    for b in module.buffers():
        if b is None or id(b) in seen:
            continue
        seen.add(id(b))
        buffers += b.numel()
    return trainable, frozen, buffers


class Row(dict):
    """One module path; a dict with attribute access (``row.macs``)."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class Report:
    """FLOPs / MACs / parameters (and, from ``profile``, timings) of one forward pass.

    Attributes: ``rows`` (list of :class:`Row`, one per module path, inclusive of submodules),
    ``macs``, ``flops`` (for the ``count`` mode; includes the backward when
    ``include_backward``), ``forward_flops``, ``matmul_flops``, ``elementwise_flops``,
    ``transcendental``, ``backward_flops``, ``training_flops``, their ``*_per_sample`` values,
    ``batch_size``, ``params`` / ``trainable_params`` / ``frozen_params`` / ``buffers``,
    ``uncounted`` ({op name: calls} for ops without a rule).
    """

    def __init__(self):
        self.rows = []
        self.count = "matmul"
        self.exact = False
        self.include_backward = False
        self.batch_size = 1
        self.uncounted = {}
        self.timing = None

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def from_counter(cls, counter, model, inputs, count="matmul", exact=False,
                     include_backward=False, timing=None):
        r = cls()
        r.count, r.exact, r.include_backward = count, exact, include_backward
        r.model_type = type(model).__name__
        r.input_shapes = [tuple(t.shape) for t in inputs]
        r.batch_size = int(inputs[0].shape[0]) if inputs and len(inputs[0].shape) else 1
        r.uncounted = dict(counter.uncounted)
        r.timing = timing
        entries = counter.entries
        all_mode = count == "all"

        mm_key = "exact_matmul_flops" if exact else "matmul_flops"
        ew_key = "exact_elementwise" if exact else "elementwise"

        def flops_of(c):
            f = c[mm_key]
            if all_mode:
                f += c[ew_key] + c["transcendental"]
            return f

        def bwd_of(c):
            return c["backward"] + (c["backward_elementwise"] if all_mode else 0)

        modules = dict(model.named_modules())
        paths = [p for p in modules if p in entries]
        for p in entries:                       # ops charged to a path not in named_modules
            if p not in modules:
                paths.append(p)
        for path in paths:
            prefix = path + "."
            inc = dict.fromkeys(entries[path].cost, 0)
            nbytes = fwd_t = bwd_t = 0
            for q, e in entries.items():
                if path == "" or q == path or q.startswith(prefix):
                    for k, v in e.cost.items():
                        inc[k] += v
                    nbytes += e.bytes
                    bwd_t += e.bwd_time
            e = entries[path]
            module = modules.get(path)
            trainable, frozen, buffers = _count_params(module) if module is not None else (0, 0, 0)
            row = Row(
                path=path, type=type(module).__name__ if module is not None else "",
                depth=0 if path == "" else path.count(".") + 1, calls=e.calls,
                output_shape=e.output_shape, params=trainable + frozen,
                macs=inc["macs"], flops=flops_of(inc), matmul_flops=inc[mm_key],
                elementwise=inc[ew_key], transcendental=inc["transcendental"],
                backward_flops=bwd_of(inc), self_macs=e.cost["macs"], self_flops=flops_of(e.cost),
                self_backward_flops=bwd_of(e.cost), bytes=nbytes,
                ops=dict(e.ops))
            if timing is not None:
                fwd_t = e.fwd_time
                row.update(_timing_columns(row, fwd_t, bwd_t, timing))
            r.rows.append(row)
        root = r.rows[0] if r.rows and r.rows[0].path == "" else None
        tot = dict.fromkeys(next(iter(entries.values())).cost if entries else (), 0)
        for e in entries.values():
            for k, v in e.cost.items():
                tot[k] += v
        tot.setdefault("macs", 0)
        r.macs = tot["macs"]
        r.matmul_flops = tot.get(mm_key, 0)
        r.elementwise_flops = tot.get(ew_key, 0)
        # both conventions, whatever ``exact`` says: 2 x MACs and the notes' per-output count
        r.flops_2x_macs = tot.get("matmul_flops", 0)
        r.exact_matmul_flops = tot.get("exact_matmul_flops", 0)
        r.transcendental = tot.get("transcendental", 0)
        r.forward_flops = flops_of(tot)
        r.backward_flops = bwd_of(tot)
        r.training_flops = r.forward_flops + r.backward_flops
        r.flops = r.training_flops if include_backward else r.forward_flops
        r.trainable_params, r.frozen_params, r.buffers = _count_params(model)
        r.params = r.trainable_params + r.frozen_params
        r.bytes = sum(e.bytes for e in entries.values())
        r.root = root
        return r

    # -- derived --------------------------------------------------------------------------------
    def per_sample(self, value):
        return value / self.batch_size

    @property
    def macs_per_sample(self):
        return self.per_sample(self.macs)

    @property
    def flops_per_sample(self):
        return self.per_sample(self.flops)

    @property
    def forward_flops_per_sample(self):
        return self.per_sample(self.forward_flops)

    @property
    def training_flops_per_sample(self):
        return self.per_sample(self.training_flops)

    def row(self, path):
        """The row of one module path (``""`` is the whole model)."""
        for r in self.rows:
            if r.path == path:
                return r
        raise KeyError(f"no module path {path!r} in the report")

    def totals(self):
        out = {
            "batch_size": self.batch_size,
            "macs": self.macs, "macs_per_sample": self.macs_per_sample,
            "flops": self.flops, "flops_per_sample": self.flops_per_sample,
            "forward_flops": self.forward_flops,
            "matmul_flops": self.matmul_flops, "elementwise_flops": self.elementwise_flops,
            "flops_2x_macs": self.flops_2x_macs, "exact_matmul_flops": self.exact_matmul_flops,
            "transcendental": self.transcendental,
            "backward_flops": self.backward_flops, "training_flops": self.training_flops,
            "training_flops_per_sample": self.training_flops_per_sample,
            "params": self.params, "trainable_params": self.trainable_params,
            "frozen_params": self.frozen_params, "buffers": self.buffers,
            "bytes_moved": self.bytes,
        }
        if self.timing is not None:
            out.update({k: v for k, v in self.timing.items() if not callable(v)})
        return out

    def __repr__(self):
        return (f"<Report {self.model_type}: {_human(self.macs)}MACs, {_human(self.flops)}FLOPs "
                f"(count={self.count!r}), {_fmt_int(self.params)} params>")

    # -- output ----------------------------------------------------------------------------------
    _COLUMNS = ("path", "type", "calls", "output_shape", "params", "macs", "flops",
                "matmul_flops", "elementwise", "transcendental", "backward_flops", "self_macs",
                "self_flops")
    _TIME_COLUMNS = ("fwd_ms", "bwd_ms", "gflops_per_s", "peak_fraction", "intensity", "bound")

    def to_dict(self):
        cols = self._COLUMNS + (self._TIME_COLUMNS if self.timing is not None else ())
        rows = []
        for r in self.rows:
            d = {c: r.get(c) for c in cols}
            d["output_shape"] = _json_shape(r.output_shape)
            rows.append(d)
        return {"model": self.model_type, "input_shapes": [list(s) for s in self.input_shapes],
                "count": self.count, "exact": self.exact, "conventions": list(CONVENTIONS),
                "totals": self.totals(), "uncounted_ops": self.uncounted, "rows": rows}

    def to_json(self, path=None, indent=2):
        text = json.dumps(self.to_dict(), indent=indent)
        if path is not None:
            with open(path, "w") as f:
                f.write(text)
        return text

    def to_csv(self, path=None):
        cols = self._COLUMNS + (self._TIME_COLUMNS if self.timing is not None else ())
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(cols)
        for r in self.rows:
            w.writerow([_shape_text(r.output_shape) if c == "output_shape" else r.get(c)
                        for c in cols])
        text = buf.getvalue()
        if path is not None:
            with open(path, "w") as f:
                f.write(text)
        return text

    def table(self, max_depth=None, show_conventions=True):
        """A readable text table: one line per module (indented by depth), then totals."""
        timed = self.timing is not None
        all_mode = self.count == "all"
        head = ["Module", "Type", "Output shape", "Params", "MACs", "FLOPs"]
        if all_mode:
            head += ["of which elementwise"]
        if timed:
            head += ["fwd ms", "bwd ms", "GFLOP/s", "% peak", "FLOP/B", "bound"]
        lines = []
        for r in self.rows:
            if max_depth is not None and r.depth > max_depth:
                continue
            name = "  " * max(r.depth - 1, 0) + (r.path or "(model)")
            if r.calls > 1:
                name += f" x{r.calls}"
            cells = [name, r.type, _shape_text(r.output_shape), _fmt_int(r.params),
                     _fmt_int(r.macs), _fmt_int(r.flops)]
            if all_mode:
                cells.append(_fmt_int(r.elementwise + r.transcendental))
            if timed:
                cells += [f"{r.fwd_ms:.3f}", f"{r.bwd_ms:.3f}" if r.bwd_ms else "-",
                          f"{r.gflops_per_s:.1f}", f"{100 * r.peak_fraction:.1f}",
                          f"{r.intensity:.1f}", r.bound]
            lines.append(cells)
        widths = [max(len(str(x)) for x in col) for col in zip(head, *lines)]
        right = set(range(3, len(head)))

        def fmt(cells):
            return "  ".join(str(c).rjust(w) if i in right else str(c).ljust(w)
                             for i, (c, w) in enumerate(zip(cells, widths)))
        out = [fmt(head), "-" * len(fmt(head))]
        out += [fmt(c) for c in lines]
        out.append("-" * len(fmt(head)))
        bs = self.batch_size
        out.append(f"Input shape(s): {', '.join(_shape_text(s) for s in self.input_shapes)} "
                   f"(batch {bs}); count={self.count!r}, exact={self.exact}")
        out.append(f"MACs:  {_fmt_int(self.macs)} per batch, {_fmt_int(self.macs_per_sample)} "
                   f"per sample ({_human(self.macs_per_sample)}MACs)")
        out.append(f"FLOPs (forward): {_fmt_int(self.forward_flops)} per batch, "
                   f"{_fmt_int(self.per_sample(self.forward_flops))} per sample "
                   f"({_human(self.per_sample(self.forward_flops))}FLOPs)")
        if all_mode:
            out.append(f"  matmul-type {_fmt_int(self.matmul_flops)}, elementwise "
                       f"{_fmt_int(self.elementwise_flops)}, transcendental "
                       f"{_fmt_int(self.transcendental)}")
        out.append(f"FLOPs (backward): {_fmt_int(self.backward_flops)}; training step "
                   f"(forward + backward): {_fmt_int(self.training_flops)} per batch, "
                   f"{_fmt_int(self.training_flops_per_sample)} per sample")
        out.append(f"Params: {_fmt_int(self.params)} (trainable {_fmt_int(self.trainable_params)}"
                   f", frozen {_fmt_int(self.frozen_params)}); buffers {_fmt_int(self.buffers)}")
        if timed:
            t = self.timing
            out.append(f"Time: forward {t['forward_s'] * 1e3:.1f} ms"
                       + (f", backward {t['backward_s'] * 1e3:.1f} ms" if t.get("backward_s")
                          else "")
                       + f"; achieved {t['forward_gflops_per_s']:.1f} GFLOP/s forward = "
                       f"{100 * t['forward_peak_fraction']:.1f}% of this machine's GEMM peak "
                       f"({t['peak_gflops_per_s']:.1f} GFLOP/s, float32 {t['peak_n']}^3 matmul); "
                       f"machine balance {t['machine_balance']:.1f} FLOP/byte "
                       f"(memory bandwidth {t['bandwidth_gb_per_s']:.1f} GB/s)")
        if self.uncounted:
            out.append("Uncounted ops (no FLOP rule): "
                       + ", ".join(f"{k} x{v}" for k, v in sorted(self.uncounted.items())))
        else:
            out.append("Uncounted ops: none")
        if show_conventions:
            out.append("Conventions:")
            out += ["  - " + c for c in CONVENTIONS]
        return "\n".join(out)

    def __str__(self):
        return self.table()


def _json_shape(shape):
    if isinstance(shape, tuple):
        return list(shape)
    if isinstance(shape, list):
        return [_json_shape(s) for s in shape]
    if isinstance(shape, dict):
        return {k: _json_shape(v) for k, v in shape.items()}
    return shape


def _timing_columns(row, fwd_t, bwd_t, timing):
    peak = timing["peak_flops_per_s"]
    balance = timing["machine_balance"]
    gflops = row["flops"] / fwd_t / 1e9 if fwd_t > 0 else 0.0
    intensity = row["flops"] / row["bytes"] if row["bytes"] else 0.0
    return {"fwd_ms": fwd_t * 1e3, "bwd_ms": bwd_t * 1e3, "gflops_per_s": gflops,
            "bwd_gflops_per_s": (row["backward_flops"] / bwd_t / 1e9) if bwd_t > 0 else 0.0,
            "peak_fraction": gflops * 1e9 / peak if peak else 0.0,
            "intensity": intensity,
            "bound": "compute" if intensity >= balance else "memory"}
