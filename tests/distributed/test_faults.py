"""A failing rank ends the whole job quickly, non-zero, with a message naming it -- never a
hang of the ranks waiting for it in a collective."""
import os
import sys

import pytest

from ._launch import run_mpi, mpiexec, ROOT

DEADLINE = 30


def _dlbasic_run():
    return [sys.executable, "-m", "dlbasic", "run", "--nproc-per-node", "2"]


@pytest.mark.parametrize("how", ["raise", "kill"])
def test_plain_mpiexec_job_ends_when_a_rank_fails(how):
    proc, seconds = run_mpi(2, "fault.py", how, 1, timeout=120)
    assert proc.returncode != 0
    assert seconds < DEADLINE, f"the job took {seconds:.0f}s to end"
    assert "should never get here" not in proc.stdout
    if how == "raise":
        assert "rank 1 of 2 failed with ValueError: a bug in rank 1" in proc.stderr
        assert "[rank 1] Traceback" in proc.stderr


@pytest.mark.parametrize("how,words", [("raise", "rank 0 of 2 failed with ValueError"),
                                       ("exit", "rank 0 of 2 exited with status 3"),
                                       ("kill", None)])
@pytest.mark.parametrize("grace", ["grace", "nograce"])
def test_dlbasic_run_job_ends_when_a_rank_fails(how, words, grace):
    mpiexec()
    proc, seconds = run_mpi(2, "fault.py", how, 0, grace, timeout=120,
                            launcher=_dlbasic_run())
    assert proc.returncode != 0
    assert seconds < DEADLINE, f"the job took {seconds:.0f}s to end"
    assert "should never get here" not in proc.stdout
    if words:
        # the launcher's own summary: it reaches the user even when the abort overtook the
        # forwarding of the failing rank's stderr
        assert f"dlbasic run: the job failed: {words}" in proc.stderr, proc.stderr[-2000:]
