"""``dlbasic run``: what each rank sees, the mpiexec command line for MPICH and Open MPI, and
the mistakes a user can make."""
import os
import sys

import pytest

from dlbasic.distributed import run as launcher

from ._launch import run_mpi, check, mpiexec, env, ROOT, WORKERS


def test_ranks_get_torchrun_environment_and_arguments():
    mpiexec()
    cmd = [sys.executable, "-m", "dlbasic", "run", "--nproc-per-node", "2"]
    e = env()
    e.pop("OMP_NUM_THREADS", None)
    import subprocess
    proc = subprocess.run(cmd + [os.path.join(WORKERS, "env_report.py"), "--lr", "0.1", "x"],
                          capture_output=True, text=True, timeout=120, env=e, cwd=ROOT)
    out = check(proc)
    for r in range(2):
        assert (f"rank={r} world=2 RANK={r} WORLD_SIZE=2 LOCAL_RANK={r} "
                f"threads={max(1, (os.cpu_count() or 1) // 2)} name=__main__ "
                "args=['--lr', '0.1', 'x']") in out


def test_command_lines_for_mpich_and_open_mpi(tmp_path):
    hosts = tmp_path / "hosts"
    hosts.write_text("# two machines\nnode1:4\nnode2 slots=4\n\n")
    exe = sys.executable
    cmd = launcher.build_command(["train.py", "--a"], 2, str(hosts), mpiexec=exe,
                                 flavour="mpich")
    assert cmd == [exe, "-n", "4", "-f", str(hosts), "-ppn", "2", exe, "-m",
                   "dlbasic.distributed.launch", "train.py", "--a"]
    cmd = launcher.build_command(["train.py"], 3, None, mpiexec=exe, flavour="openmpi")
    assert cmd[:4] == [exe, "-n", "3", "--oversubscribe"]
    cmd = launcher.build_command(["pkg.mod"], 2, str(hosts), module=True, mpiexec=exe,
                                 flavour="openmpi")
    assert cmd == [exe, "-n", "4", "--hostfile", str(hosts), "--npernode", "2", exe, "-m",
                   "dlbasic.distributed.launch", "-m", "pkg.mod"]


def test_mistakes_are_one_line(tmp_path, capsys):
    from dlbasic.app.cli import main
    assert main(["run", "--nproc-per-node", "2", str(tmp_path / "missing.py")]) == 2
    assert "no such script" in capsys.readouterr().err
    empty = tmp_path / "hosts"
    empty.write_text("# nobody\n")
    script = tmp_path / "s.py"
    script.write_text("print(1)\n")
    assert main(["run", "--hostfile", str(empty), str(script)]) == 2
    assert "lists no hosts" in capsys.readouterr().err
    assert main(["run", "--mpiexec", str(tmp_path / "nope"), "--hostfile",
                 str(tmp_path / "absent"), str(script)]) == 2
    assert "cannot read hostfile" in capsys.readouterr().err


def test_no_mpiexec_anywhere_says_how_to_get_one(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("DLBASIC_MPIEXEC", raising=False)
    monkeypatch.setattr(launcher.sys, "executable", str(tmp_path / "python"))
    monkeypatch.setattr(launcher.sys, "prefix", str(tmp_path))
    with pytest.raises(launcher.LaunchError, match=r"pip install 'dlbasic\[distributed\]'"):
        launcher.find_mpiexec()
