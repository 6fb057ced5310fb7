"""L-BFGS (Nocedal, 1980; Liu & Nocedal, 1989): a quasi-Newton method with limited memory.

All parameters are seen as one flat vector x with gradient g.  Each iteration of a ``step``
builds a search direction d = -H g, where H is the inverse Hessian estimated from the last
``history_size`` pairs s = x_{k+1} - x_k, y = g_{k+1} - g_k by the two-loop recursion
(Nocedal & Wright, *Numerical Optimization*, Algorithm 7.4), with the initial scale
H_0 = (s.y) / (y.y) of the newest pair.  A pair is kept only when s.y > 1e-10 (curvature).
The step length t is ``lr`` (on the very first iteration min(1, 1/|g|_1) * lr), or with
``line_search_fn='strong_wolfe'`` the point a bracketing / zoom line search finds that
satisfies the strong Wolfe conditions (Nocedal & Wright, Algorithms 3.5 and 3.6; cubic
interpolation between the bracket ends as in minFunc's ``polyinterp``).

The control flow -- when a pair is stored, when the function is re-evaluated, the stopping
tests, the state kept between steps -- follows torch.optim.LBFGS so that both give the same
trajectory.  Values that torch keeps as 0-d tensors (dot products, the step length after a
line search) are NumPy scalars here, and the values torch keeps as Python numbers stay
Python numbers, so float32 arithmetic promotes the same way.
"""
import numpy as np

from .._tensor import Tensor
from ..autograd import enable_grad, no_grad
from .optimizer import Optimizer, _scalar

__all__ = ["LBFGS"]


def _cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds=None):
    """The minimiser of the cubic through (x1, f1, f1'=g1) and (x2, f2, f2'=g2), clamped to
    ``bounds`` (default: the interval between x1 and x2); its midpoint when the cubic has no
    real minimiser.  With d1 = g1 + g2 - 3 (f1 - f2) / (x1 - x2), d2 = sqrt(d1^2 - g1 g2):
    x = x2 - (x2 - x1) (g2 + d2 - d1) / (g2 - g1 + 2 d2)   (x2 the larger point)."""
    if bounds is not None:
        lo, hi = bounds
    else:
        lo, hi = (x1, x2) if x1 <= x2 else (x2, x1)
    with np.errstate(divide="ignore", invalid="ignore"):
        d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
        d2_square = d1 ** 2 - g1 * g2
        if d2_square >= 0:
            d2 = np.sqrt(d2_square)
            if x1 <= x2:
                min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
            else:
                min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
            return min(max(min_pos, lo), hi)
    return (lo + hi) / 2.0


def _strong_wolfe(obj_func, x, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9,
                  max_ls=25):
    """Line search along ``d`` from ``x`` (loss ``f``, gradient ``g``, slope gtd = g.d) for a
    step t with  f(x + t d) <= f + c1 t gtd  (sufficient decrease) and
    |g(x + t d).d| <= -c2 gtd  (curvature).  First grow t until an interval brackets such a
    point, then shrink the bracket by cubic interpolation (the zoom).  At most ``max_ls``
    evaluations; returns (f_new, g_new, t, number of evaluations)."""
    d_norm = np.abs(d).max()
    f_new, g_new = obj_func(x, t, d)
    evals = 1
    gtd_new = np.dot(g_new, d)

    # bracketing phase
    t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
    done = False
    ls_iter = 0
    bracket_gtd = None
    while ls_iter < max_ls:
        if f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev):
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new], [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
            done = True
            break
        if gtd_new >= 0:
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new], [gtd_prev, gtd_new]
            break
        # extrapolate: the cubic's minimiser, kept within [t + 0.01 (t - t_prev), 10 t]
        t_next = _cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new,
                                    bounds=(t + 0.01 * (t - t_prev), t * 10))
        t_prev, f_prev, g_prev, gtd_prev = t, f_new, g_new, gtd_new
        t = t_next
        f_new, g_new = obj_func(x, t, d)
        evals += 1
        gtd_new = np.dot(g_new, d)
        ls_iter += 1

    if ls_iter == max_ls:                        # out of evaluations: bracket [0, t]
        bracket, bracket_f, bracket_g = [0, t], [f, f_new], [g, g_new]

    # zoom phase: shrink the bracket around a point that satisfies both conditions
    insuf_progress = False
    low, high = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = _cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0],
                               bracket[1], bracket_f[1], bracket_gtd[1])
        # a trial point too close to an end makes little progress; after two such trials
        # (or one at an end) move it to 10% of the bracket's length from the nearer end
        b_max, b_min = max(bracket), min(bracket)
        eps = 0.1 * (b_max - b_min)
        if min(b_max - t, t - b_min) < eps:
            if insuf_progress or t >= b_max or t <= b_min:
                t = b_max - eps if abs(t - b_max) < abs(t - b_min) else b_min + eps
                insuf_progress = False
            else:
                insuf_progress = True
        else:
            insuf_progress = False

        f_new, g_new = obj_func(x, t, d)
        evals += 1
        gtd_new = np.dot(g_new, d)
        ls_iter += 1

        if f_new > (f + c1 * t * gtd) or f_new >= bracket_f[low]:
            # no sufficient decrease, or not below the low end: t becomes the high end
            bracket[high], bracket_f[high] = t, f_new
            bracket_g[high], bracket_gtd[high] = g_new, gtd_new
            low, high = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high] - bracket[low]) >= 0:
                # the slope points back past the low end: the old low becomes the high end
                bracket[high], bracket_f[high] = bracket[low], bracket_f[low]
                bracket_g[high], bracket_gtd[high] = bracket_g[low], bracket_gtd[low]
            bracket[low], bracket_f[low] = t, f_new
            bracket_g[low], bracket_gtd[low] = g_new, gtd_new

    return bracket_f[low], bracket_g[low], bracket[low], evals


def _unpack(value):
    """A state value as the algorithm uses it: a Tensor becomes its array (0-d ones a NumPy
    scalar), lists are walked, Python numbers stay as they are."""
    if isinstance(value, Tensor):
        return value._data[()] if value._data.ndim == 0 else value._data
    if isinstance(value, list):
        return [_unpack(v) for v in value]
    return value


def _pack(value):
    """The inverse of :func:`_unpack`: arrays and NumPy scalars become Tensors, as torch's
    state holds them."""
    if isinstance(value, (np.ndarray, np.generic)):
        return Tensor._make(np.asarray(value))
    if isinstance(value, list):
        return [_pack(v) for v in value]
    return value


class LBFGS(Optimizer):
    """L-BFGS over all parameters as one flat vector (one parameter group only).

    ``step(closure)`` runs up to ``max_iter`` iterations (``max_eval`` closure calls,
    default max_iter * 5 // 4); ``closure`` must clear the gradients, recompute the loss,
    call ``backward`` and return the loss.
    """

    def __init__(self, params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7,
                 tolerance_change=1e-9, history_size=100, line_search_fn=None):
        if not 0.0 <= _scalar(lr):
            raise ValueError(f"Invalid learning rate: {lr}")
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        defaults = dict(lr=lr, max_iter=max_iter, max_eval=max_eval,
                        tolerance_grad=tolerance_grad, tolerance_change=tolerance_change,
                        history_size=history_size, line_search_fn=line_search_fn)
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._params = self.param_groups[0]["params"]

    # -- the flat vector ------------------------------------------------------------------
    # A complex parameter counts as its real and imaginary parts, interleaved (torch's
    # view_as_real), so the algorithm only ever sees real numbers.
    @staticmethod
    def _real_view(a):
        a = np.ascontiguousarray(a).reshape(-1)
        return a.view(a.real.dtype) if np.iscomplexobj(a) else a

    def _gather_flat_grad(self):
        views = []
        for p in self._params:
            g = p.grad
            views.append(self._real_view(np.zeros_like(p._data) if g is None else g._data))
        return np.concatenate(views)

    def _add_grad(self, step_size, update):
        """x += step_size * update, written into the parameters in place."""
        offset = 0
        for p in self._params:
            d = p._data
            n = d.size * (2 if np.iscomplexobj(d) else 1)
            part = update[offset:offset + n]
            if np.iscomplexobj(d):
                part = part.view(d.dtype)
            d += step_size * part.reshape(d.shape)
            p._vbox[0] += 1
            offset += n

    def _clone_param(self):
        return [p._data.copy() for p in self._params]

    def _set_param(self, arrays):
        for p, a in zip(self._params, arrays):
            p._data[...] = a
            p._vbox[0] += 1

    def _evaluate(self, closure):
        with enable_grad():
            return closure()

    def _directional_evaluate(self, closure, x, t, d):
        """Loss and flat gradient at x + t d; the parameters are put back to ``x`` after."""
        self._add_grad(t, d)
        loss = float(self._evaluate(closure))
        flat_grad = self._gather_flat_grad()
        self._set_param(x)
        return loss, flat_grad

    # -- the step -------------------------------------------------------------------------
    def step(self, closure):
        """Run L-BFGS iterations from the current parameters; returns the closure's first
        loss (before any update)."""
        self._pre_step()
        with no_grad():
            loss = self._lbfgs(closure)
        self._post_step()
        return loss

    def _lbfgs(self, closure):
        group = self.param_groups[0]
        lr = _scalar(group["lr"])
        max_iter, max_eval = group["max_iter"], group["max_eval"]
        tolerance_grad, tolerance_change = group["tolerance_grad"], group["tolerance_change"]
        line_search_fn, history_size = group["line_search_fn"], group["history_size"]

        # the state is global, kept (as torch does) under the first parameter
        state = self.state[self._params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        orig_loss = self._evaluate(closure)
        loss = float(orig_loss)
        current_evals = 1
        state["func_evals"] += 1
        flat_grad = self._gather_flat_grad()
        if np.abs(flat_grad).max() <= tolerance_grad:
            return orig_loss

        d, t = _unpack(state.get("d")), _unpack(state.get("t"))
        old_dirs, old_stps = _unpack(state.get("old_dirs")), _unpack(state.get("old_stps"))
        ro, H_diag = _unpack(state.get("ro")), _unpack(state.get("H_diag"))
        al = _unpack(state.get("al"))
        prev_flat_grad = _unpack(state.get("prev_flat_grad"))
        prev_loss = state.get("prev_loss")
        if prev_flat_grad is not None:
            prev_flat_grad = np.array(prev_flat_grad, copy=True)

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1

            # -- the direction: steepest descent first, then the two-loop recursion ----
            if state["n_iter"] == 1:
                d = -flat_grad
                old_dirs, old_stps, ro = [], [], []
                H_diag = 1
            else:
                y = flat_grad - prev_flat_grad
                s = d * t
                ys = np.dot(y, s)
                if ys > 1e-10:                   # keep only pairs of positive curvature
                    if len(old_dirs) == history_size:
                        old_dirs.pop(0)
                        old_stps.pop(0)
                        ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    H_diag = ys / np.dot(y, y)
                num_old = len(old_dirs)
                if al is None:
                    al = [None] * history_size
                q = -flat_grad
                for i in range(num_old - 1, -1, -1):
                    al[i] = np.dot(old_stps[i], q) * ro[i]
                    q += -al[i] * old_dirs[i]
                d = r = q * H_diag
                for i in range(num_old):
                    be_i = np.dot(old_dirs[i], r) * ro[i]
                    r += (al[i] - be_i) * old_stps[i]

            if prev_flat_grad is None:
                prev_flat_grad = flat_grad.copy()
            else:
                prev_flat_grad[...] = flat_grad
            prev_loss = loss

            # -- the step length ----------------------------------------------------------
            if state["n_iter"] == 1:
                t = min(1.0, 1.0 / np.abs(flat_grad).sum()) * lr
            else:
                t = lr
            gtd = np.dot(flat_grad, d)
            if gtd > -tolerance_change:          # not a descent direction (any more)
                break

            ls_func_evals = 0
            if line_search_fn is not None:
                if line_search_fn != "strong_wolfe":
                    raise RuntimeError("only 'strong_wolfe' is supported")
                x_init = self._clone_param()

                def obj_func(x, t, d):
                    return self._directional_evaluate(closure, x, t, d)

                loss, flat_grad, t, ls_func_evals = _strong_wolfe(
                    obj_func, x_init, t, d, loss, flat_grad, gtd,
                    max_ls=max_eval - current_evals)
                self._add_grad(t, d)
                opt_cond = np.abs(flat_grad).max() <= tolerance_grad
            else:
                self._add_grad(t, d)
                opt_cond = False
                if n_iter != max_iter:
                    # the last iteration's loss is not needed: the next step evaluates anew
                    loss = float(self._evaluate(closure))
                    flat_grad = self._gather_flat_grad()
                    opt_cond = np.abs(flat_grad).max() <= tolerance_grad
                    ls_func_evals = 1

            current_evals += ls_func_evals
            state["func_evals"] += ls_func_evals

            # -- stopping tests -------------------------------------------------------------
            if n_iter == max_iter or current_evals >= max_eval or opt_cond:
                break
            if np.abs(d * t).max() <= tolerance_change:        # the step no longer moves x
                break
            if abs(loss - prev_loss) < tolerance_change:       # nor changes the loss
                break

        state["d"] = _pack(d)
        state["t"] = _pack(t)
        state["old_dirs"] = _pack(old_dirs)
        state["old_stps"] = _pack(old_stps)
        state["ro"] = _pack(ro)
        state["H_diag"] = _pack(H_diag)
        state["prev_flat_grad"] = _pack(prev_flat_grad)
        state["prev_loss"] = prev_loss
        if al is not None:
            state["al"] = _pack(al)
        return orig_loss
