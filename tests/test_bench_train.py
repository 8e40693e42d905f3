"""The training benchmarks run on a tiny configuration and print their tables."""
import subprocess

from bench import loss_curves, profile_train
from bench import train as bench_train

TINY = ["--ngf", "4", "--z-dim", "8", "--image-size", "32", "--batch-size", "1", "--ndf", "4", "--num-d", "1",
        "--bench-steps", "1"]


def test_bench_steps_are_taken_out_of_the_trainer_options():
    assert bench_train.bench_steps(["--ngf", "4", "--bench-steps", "7"], 5) == (["--ngf", "4"], 7)
    assert bench_train.bench_steps(["--ngf", "4"], 5) == (["--ngf", "4"], 5)


def test_bench_train_compares_with_a_revision_in_one_run(capsys):
    assert bench_train.main(TINY + ["--against", "HEAD"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and line.endswith("x |")]
    assert [row.split(" | ")[0][2:] for row in rows] == ["before (HEAD)", "now, one process", "now"]
    assert rows[0].endswith("| 1.00x |")
    assert subprocess.run(["git", "worktree", "list"], capture_output=True, text=True).stdout.count("\n") == 1


def test_loss_curves_compare_noise_with_change(capsys, tmp_path):
    out = tmp_path / "curves.png"
    assert loss_curves.main(TINY[:-2] + ["--against", "HEAD", "--steps", "52", "--out", str(out)]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| g_") or line.startswith("| d_")]
    assert len(rows) == 4
    assert out.stat().st_size > 0


def test_profile_train_shares_add_up(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert profile_train.main(TINY) == 0
    assert not any(tmp_path.iterdir())  # no trace files left behind
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| ") and line.endswith("% |")]
    assert {r.split(" | ")[0][2:] for r in rows} >= {"data", "generator forward", "EMA", "the rest (losses, Python, profiler)"}
    assert abs(sum(float(r.split(" | ")[2].rstrip("% |")) for r in rows) - 100) < 1


def test_profile_train_puts_backward_back():
    import paddle

    backward = paddle.Tensor.backward
    profile_train.main(TINY)
    assert paddle.Tensor.backward is backward
