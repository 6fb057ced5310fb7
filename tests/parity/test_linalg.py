"""dlbasic.linalg against torch.linalg: values, gradients of a loss that weights every output
(gauge-invariant where a factor's signs are free: SVD and eigenvectors enter squared or as
their product), float64 gradcheck, and torch's errors for singular and indefinite inputs."""
import numpy as np
import pytest

from tests.parity.harness import assert_same_error, torch

import dlbasic
from dlbasic.autograd import gradcheck

DL, TL = dlbasic.linalg, torch.linalg


def _rng(seed):
    return np.random.default_rng(seed)


def general(*shape, seed=0):
    return _rng(seed).standard_normal(shape)


def well_conditioned(*shape, seed=0):
    """A square (batch of) matrix: random plus n * I, far from singular."""
    n = shape[-1]
    return general(*shape, seed=seed) + n * np.eye(n)


def spd(*shape, seed=0):
    a = general(*shape, seed=seed)
    return a @ np.swapaxes(a, -1, -2) + shape[-1] * np.eye(shape[-1])


def _outputs(out):
    if isinstance(out, (tuple, list)):
        return list(out)
    return [out]


def _weights(outputs, seed=99):
    rng = _rng(seed)
    return [rng.standard_normal(tuple(o.shape)) if o.dtype.is_floating_point else None
            for o in outputs]


def _loss(lib, outputs, weights, squared):
    total = 0
    for k, (o, w) in enumerate(zip(outputs, weights)):
        if w is None:
            continue
        v = o * o if k in squared else o
        total = total + (v * lib.tensor(w, dtype=o.dtype)).sum()
    return total


CASES = {
    # name: (torch fn, dlbasic fn, input makers, indices of outputs entering squared)
    "vector_norm_2": (lambda x: TL.vector_norm(x), lambda x: DL.vector_norm(x),
                      [lambda: general(3, 4)], ()),
    "vector_norm_1_dim": (lambda x: TL.vector_norm(x, 1, dim=1, keepdim=True),
                          lambda x: DL.vector_norm(x, 1, dim=1, keepdim=True),
                          [lambda: general(3, 4)], ()),
    "vector_norm_3": (lambda x: TL.vector_norm(x, 3, dim=(0, 2)),
                      lambda x: DL.vector_norm(x, 3, dim=(0, 2)),
                      [lambda: general(2, 3, 4)], ()),
    "vector_norm_inf": (lambda x: TL.vector_norm(x, float("inf"), dim=-1),
                        lambda x: DL.vector_norm(x, float("inf"), dim=-1),
                        [lambda: general(3, 5)], ()),
    "vector_norm_-inf": (lambda x: TL.vector_norm(x, -float("inf")),
                         lambda x: DL.vector_norm(x, -float("inf")),
                         [lambda: general(7)], ()),
    "vector_norm_0.5": (lambda x: TL.vector_norm(x, 0.5), lambda x: DL.vector_norm(x, 0.5),
                        [lambda: general(6)], ()),
    "matrix_norm_fro": (lambda a: TL.matrix_norm(a), lambda a: DL.matrix_norm(a),
                        [lambda: general(2, 3, 4)], ()),
    "matrix_norm_nuc": (lambda a: TL.matrix_norm(a, "nuc"), lambda a: DL.matrix_norm(a, "nuc"),
                        [lambda: general(3, 4)], ()),
    "matrix_norm_2": (lambda a: TL.matrix_norm(a, 2), lambda a: DL.matrix_norm(a, 2),
                      [lambda: general(4, 3)], ()),
    "matrix_norm_-2": (lambda a: TL.matrix_norm(a, -2), lambda a: DL.matrix_norm(a, -2),
                       [lambda: general(3, 3)], ()),
    "matrix_norm_1": (lambda a: TL.matrix_norm(a, 1), lambda a: DL.matrix_norm(a, 1),
                      [lambda: general(3, 4)], ()),
    "matrix_norm_inf": (lambda a: TL.matrix_norm(a, float("inf")),
                        lambda a: DL.matrix_norm(a, float("inf")),
                        [lambda: general(3, 4)], ()),
    "norm_default": (lambda a: TL.norm(a), lambda a: DL.norm(a), [lambda: general(3, 4)], ()),
    "norm_vector_dim": (lambda a: TL.norm(a, 3, dim=0), lambda a: DL.norm(a, 3, dim=0),
                        [lambda: general(3, 4)], ()),
    "inv": (TL.inv, DL.inv, [lambda: well_conditioned(2, 3, 3)], ()),
    "inv_ex": (lambda a: TL.inv_ex(a).inverse, lambda a: DL.inv_ex(a).inverse,
               [lambda: well_conditioned(4, 4)], ()),
    "det": (TL.det, DL.det, [lambda: well_conditioned(2, 4, 4)], ()),
    "det_negative": (TL.det, DL.det, [lambda: general(3, 3, seed=5)], ()),
    "slogdet": (TL.slogdet, DL.slogdet, [lambda: general(2, 3, 3, seed=1)], ()),
    "solve": (TL.solve, DL.solve, [lambda: well_conditioned(2, 3, 3), lambda: general(2, 3, 2)],
              ()),
    "solve_vector": (TL.solve, DL.solve, [lambda: well_conditioned(3, 3), lambda: general(3)],
                     ()),
    "solve_broadcast": (TL.solve, DL.solve,
                        [lambda: well_conditioned(3, 3), lambda: general(4, 3, 2)], ()),
    "solve_right": (lambda a, b: TL.solve(a, b, left=False),
                    lambda a, b: DL.solve(a, b, left=False),
                    [lambda: well_conditioned(3, 3), lambda: general(2, 3)], ()),
    "solve_triangular_upper": (lambda a, b: TL.solve_triangular(a.triu(), b, upper=True),
                               lambda a, b: DL.solve_triangular(a.triu(), b, upper=True),
                               [lambda: well_conditioned(3, 3), lambda: general(3, 2)], ()),
    "solve_triangular_lower_right_unit": (
        lambda a, b: TL.solve_triangular(a.tril(), b, upper=False, left=False,
                                         unitriangular=True),
        lambda a, b: DL.solve_triangular(a.tril(), b, upper=False, left=False,
                                         unitriangular=True),
        [lambda: well_conditioned(3, 3), lambda: general(2, 3)], ()),
    "cholesky": (TL.cholesky, DL.cholesky, [lambda: spd(2, 3, 3)], ()),
    "cholesky_upper": (lambda a: TL.cholesky(a, upper=True),
                       lambda a: DL.cholesky(a, upper=True), [lambda: spd(4, 4)], ()),
    "qr_tall": (TL.qr, DL.qr, [lambda: general(5, 3)], ()),
    "qr_wide": (TL.qr, DL.qr, [lambda: general(3, 5)], ()),
    "qr_batch_square_complete": (lambda a: TL.qr(a, "complete"),
                                 lambda a: DL.qr(a, "complete"), [lambda: general(2, 3, 3)],
                                 ()),
    "svd": (lambda a: TL.svd(a, full_matrices=False), lambda a: DL.svd(a, full_matrices=False),
            [lambda: general(4, 3)], (0, 2)),
    "svd_wide_batch": (lambda a: TL.svd(a, full_matrices=False),
                       lambda a: DL.svd(a, full_matrices=False), [lambda: general(2, 3, 5)],
                       (0, 2)),
    "svdvals": (TL.svdvals, DL.svdvals, [lambda: general(2, 4, 3)], ()),
    "eigh": (TL.eigh, DL.eigh, [lambda: spd(3, 3)], (1,)),
    "eigh_upper": (lambda a: TL.eigh(a, UPLO="U"), lambda a: DL.eigh(a, UPLO="U"),
                   [lambda: spd(2, 4, 4, seed=3)], (1,)),
    "eigvalsh": (TL.eigvalsh, DL.eigvalsh, [lambda: spd(2, 3, 3)], ()),
    "pinv": (TL.pinv, DL.pinv, [lambda: general(4, 3)], ()),
    "pinv_wide": (TL.pinv, DL.pinv, [lambda: general(2, 3, 5)], ()),
    "pinv_hermitian": (lambda a: TL.pinv(a, hermitian=True),
                       lambda a: DL.pinv(a, hermitian=True), [lambda: spd(3, 3)], ()),
    "lstsq": (lambda a, b: TL.lstsq(a, b).solution, lambda a, b: DL.lstsq(a, b).solution,
              [lambda: general(5, 3), lambda: general(5, 2)], ()),
    "matrix_power_3": (lambda a: TL.matrix_power(a, 3), lambda a: DL.matrix_power(a, 3),
                       [lambda: general(2, 3, 3)], ()),
    "matrix_power_-2": (lambda a: TL.matrix_power(a, -2), lambda a: DL.matrix_power(a, -2),
                        [lambda: well_conditioned(3, 3)], ()),
    "cross": (TL.cross, DL.cross, [lambda: general(4, 3), lambda: general(4, 3, seed=1)], ()),
    "cross_dim0_broadcast": (lambda a, b: TL.cross(a, b, dim=0),
                             lambda a, b: DL.cross(a, b, dim=0),
                             [lambda: general(3, 1), lambda: general(3, 4, seed=2)], ()),
    "vecdot": (TL.vecdot, DL.vecdot, [lambda: general(2, 5), lambda: general(5, seed=1)], ()),
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_values_and_gradients_match_torch(name, dtype):
    t_fn, d_fn, makers, squared = CASES[name]
    arrays = [m().astype(dtype) for m in makers]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    ds = [dlbasic.tensor(a, requires_grad=True) for a in arrays]
    t_out, d_out = _outputs(t_fn(*ts)), _outputs(d_fn(*ds))
    assert len(t_out) == len(d_out)
    tol = dict(atol=1e-4, rtol=1e-4) if dtype == "float32" else dict(atol=1e-10, rtol=1e-9)
    for k, (t, d) in enumerate(zip(t_out, d_out)):
        assert tuple(d.shape) == tuple(t.shape), k
        assert str(d.dtype).split(".")[-1] == str(t.dtype).split(".")[-1], k
        tv, dv = t.detach().numpy(), d.detach().numpy()
        if k in squared:                    # columns' signs are free: compare up to them
            tv, dv = np.abs(tv), np.abs(dv)
        np.testing.assert_allclose(dv, tv, **tol, err_msg=f"output {k}")
    weights = _weights(t_out)
    _loss(torch, t_out, weights, squared).backward()
    _loss(dlbasic, d_out, weights, squared).backward()
    gtol = dict(atol=1e-3, rtol=1e-3) if dtype == "float32" else dict(atol=1e-8, rtol=1e-7)
    for i, (t, d) in enumerate(zip(ts, ds)):
        assert (d.grad is None) == (t.grad is None), i
        if t.grad is not None:
            np.testing.assert_allclose(d.grad.numpy(), t.grad.numpy(), **gtol,
                                       err_msg=f"gradient of input {i}")


# functions of a symmetric matrix read one triangle and return a symmetric gradient (as torch's):
# a finite difference of one off-diagonal entry is not that, so they are checked through
# A = X X^T + n I, a function of a general X
SYMMETRIC_INPUT = {"cholesky", "cholesky_upper", "eigh", "eigh_upper", "eigvalsh",
                   "pinv_hermitian"}


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradcheck_float64(name):
    _, d_fn, makers, squared = CASES[name]
    inputs = [dlbasic.tensor(m(), requires_grad=True) for m in makers]
    if name in SYMMETRIC_INPUT:
        inner, n = d_fn, makers[0]().shape[-1]
        inputs = [dlbasic.tensor(general(*makers[0]().shape, seed=7), requires_grad=True)]
        d_fn = lambda x: inner(x @ x.mT + n * dlbasic.eye(n, dtype=x.dtype))   # noqa: E731
    weights = None

    def loss(*xs):
        nonlocal weights
        outs = _outputs(d_fn(*xs))
        if weights is None:
            weights = _weights(outs)
        return _loss(dlbasic, outs, weights, squared)

    assert gradcheck(loss, inputs, eps=1e-6, atol=1e-5, rtol=1e-4)


# -- integer-valued results -----------------------------------------------------------------

def test_matrix_rank_matches_torch():
    a = general(2, 5, 3) @ general(3, 4, seed=1)             # rank 3
    b = np.diag([1.0, 1e-9, 0.0])
    for x, kw in ((a, {}), (b, {}), (b, dict(atol=1e-12)), (b, dict(rtol=1e-3)),
                  (b @ b.T, dict(hermitian=True))):
        t = TL.matrix_rank(torch.tensor(x), **kw)
        d = DL.matrix_rank(dlbasic.tensor(x), **kw)
        assert d.dtype == dlbasic.int64
        np.testing.assert_array_equal(d.numpy(), t.numpy())


def test_lstsq_reports_rank_and_singular_values_like_torch_for_its_driver():
    a, b = general(6, 3), general(6, 2, seed=1)
    for driver in ("gelsy", "gelsd", "gelss"):
        t = TL.lstsq(torch.tensor(a), torch.tensor(b), driver=driver)
        d = DL.lstsq(dlbasic.tensor(a), dlbasic.tensor(b), driver=driver)
        for field in ("solution", "residuals", "rank", "singular_values"):
            tv, dv = getattr(t, field), getattr(d, field)
            assert tuple(dv.shape) == tuple(tv.shape), (driver, field)
            np.testing.assert_allclose(dv.numpy(), tv.numpy(), atol=1e-10, err_msg=field)


# -- errors ---------------------------------------------------------------------------------

SINGULAR = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [0.0, 1.0, 1.0]])
NOT_PD = np.array([[2.0, 0.0, 0.0], [0.0, 1.0, 3.0], [0.0, 3.0, 1.0]])


@pytest.mark.parametrize("call", [
    lambda L, T: L.inv(T(SINGULAR)),
    lambda L, T: L.inv(T(np.stack([np.eye(3), SINGULAR]))),
    lambda L, T: L.solve(T(SINGULAR), T(np.ones((3, 1)))),
    lambda L, T: L.cholesky(T(NOT_PD)),
    lambda L, T: L.cholesky(T(np.stack([np.eye(3), NOT_PD]))),
    lambda L, T: L.inv(T(np.ones((2, 3)))),
    lambda L, T: L.det(T(np.ones(3))),
    lambda L, T: L.cholesky(T(np.ones((2, 2), dtype=np.int64))),
    lambda L, T: L.cross(T(np.ones((2, 4))), T(np.ones((2, 4)))),
    lambda L, T: L.qr(T(np.ones((2, 2))), mode="full"),
    lambda L, T: L.eigh(T(np.eye(2)), UPLO="X"),
    lambda L, T: L.solve(T(np.eye(2)), T(np.ones((2, 1), dtype=np.float32))),
])
def test_errors_match_torch(call):
    assert_same_error(lambda: call(TL, torch.tensor), lambda: call(DL, dlbasic.tensor))


def test_singular_and_indefinite_errors_are_linalg_errors():
    with pytest.raises(DL.LinAlgError):
        DL.inv(dlbasic.tensor(SINGULAR))
    assert issubclass(DL.LinAlgError, RuntimeError)
    out = DL.cholesky_ex(dlbasic.tensor(NOT_PD))
    ref = TL.cholesky_ex(torch.tensor(NOT_PD))
    assert out.info.item() == ref.info.item() == 3      # potrf's info: minor of order 3
    out = DL.inv_ex(dlbasic.tensor(SINGULAR))
    assert out.info.item() == TL.inv_ex(torch.tensor(SINGULAR)).info.item()


def test_all_of_torch_linalgs_functions_that_dlbasic_has_are_exported():
    for name in DL.__all__:
        assert hasattr(TL, name), name
        assert callable(getattr(DL, name))
    assert dlbasic.linalg is DL
