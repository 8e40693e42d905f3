"""The training benchmarks run on a tiny configuration and print their tables."""
from bench import profile_train
from bench import train as bench_train

TINY = ["--ngf", "4", "--z-dim", "8", "--image-size", "32", "--batch-size", "1", "--ndf", "4", "--num-d", "1",
        "--bench-steps", "1"]


def test_bench_steps_are_taken_out_of_the_trainer_options():
    assert bench_train.bench_steps(["--ngf", "4", "--bench-steps", "7"], 5) == (["--ngf", "4"], 7)
    assert bench_train.bench_steps(["--ngf", "4"], 5) == (["--ngf", "4"], 5)


def test_bench_train_prints_images_per_second(capsys):
    assert bench_train.main(TINY) == 0
    assert "| images / second |" in capsys.readouterr().out


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
