"""FLOPs / MACs / parameter counting, per-layer timing and achieved FLOP/s.

    from dlbasic.profiler import count_flops, profile
    rep = count_flops(model, (1, 3, 224, 224))       # rep.macs, rep.flops, rep.params
    print(rep.table())                               # per-module rows + totals + conventions
    print(profile(model, (1, 3, 224, 224)).table())  # + forward/backward ms, GFLOP/s, roofline

Conventions (stated in every table): FLOPs = 2 x MACs for conv / linear / matmul;
``count="matmul"`` matches ``torch.utils.flop_counter.FlopCounterMode``; ``count="all"`` adds
elementwise work; ``exact=True`` uses the notes' ``2K - 1 (+1 bias)`` per output.
"""
from .flops import count_flops, OpCounter, RULES, ZERO_COST, conv_macs      # noqa: F401
from .report import Report, CONVENTIONS                                    # noqa: F401
from .timing import profile, machine_peak                                  # noqa: F401

__all__ = ["count_flops", "profile", "machine_peak", "Report", "OpCounter", "RULES",
           "ZERO_COST", "CONVENTIONS", "conv_macs"]
