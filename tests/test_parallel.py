"""Data-parallel training: ranks share out each batch, average gradients, and any rank count resumes."""
import json
import signal
import subprocess
import sys

import pytest

from tests.helpers import stop_a_run
from train.parallel import Ranks, processes_for

TINY = ["--ngf", "4", "--z-dim", "8", "--ndf", "8", "--n-layers-d", "3", "--num-d", "2", "--image-size", "64",
        "--batch-size", "4", "--lambda-vgg", "0", "--log-every", "1", "--sample-every", "100000",
        "--data", "procedural"]


def train(run_dir, *options, timeout=300):
    result = subprocess.run([sys.executable, "-m", "train", "--run-dir", str(run_dir), *TINY, *options],
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def log(run_dir):
    return [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]


def test_processes_split_the_batch_evenly():
    assert processes_for(8, 2) == 2
    assert processes_for(6, 4) == 3
    assert processes_for(5, 2) == 1
    assert processes_for(4, 0) == 1


def test_a_single_process_is_rank_zero_of_one_and_never_communicates():
    ranks = Ranks()
    assert (ranks.rank, ranks.size, ranks.leader) == (0, 1, True)
    assert ranks.part(4) == slice(0, 4)
    assert ranks.mean({"loss": 2.5}) == {"loss": 2.5}
    assert ranks.any(False) is False and ranks.any(True) is True


def test_two_processes_compute_what_one_does_and_one_resumes_their_checkpoint(tmp_path):
    out = train(tmp_path / "two", "--processes", "2", "--steps", "3")
    assert "2 data-parallel processes, 2 pairs each" in out
    train(tmp_path / "one", "--processes", "1", "--steps", "3")
    two, one = log(tmp_path / "two"), log(tmp_path / "one")
    assert [row["step"] for row in two] == [1, 2, 3]
    for a, b in zip(two, one):
        for key in ("g_gan", "g_feat", "d_hinge"):
            # Only the order of float sums differs (the gradient all-reduce), and GANs amplify it slowly.
            assert a[key] == pytest.approx(b[key], rel=1e-3, abs=1e-4), (a["step"], key)
    train(tmp_path / "two", "--processes", "1", "--steps", "4", "--resume")
    assert [row["step"] for row in log(tmp_path / "two")] == [1, 2, 3, 4]
    assert json.loads((tmp_path / "two" / "checkpoint" / "state.json").read_text())["step"] == 4


def test_a_stop_sent_to_the_launcher_stops_every_rank_at_a_saved_step(tmp_path):
    run_dir = tmp_path / "run"
    stop_a_run([sys.executable, "-m", "train", "--run-dir", str(run_dir), *TINY, "--processes", "2",
                "--steps", "100000", "--checkpoint-every", "100000"], run_dir, signal.SIGTERM)
    assert json.loads((run_dir / "checkpoint" / "state.json").read_text())["step"] >= 1


def test_a_batch_that_does_not_split_is_refused():
    from train.config import parse_configs

    with pytest.raises(ValueError, match="divide --batch-size"):
        parse_configs(["--processes", "3", "--batch-size", "4"], 11)
    with pytest.raises(ValueError, match="multiple of 3"):
        Ranks.part(type("R", (), {"size": 3, "rank": 0})(), 4)
