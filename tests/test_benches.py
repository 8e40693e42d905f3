"""The benches and the ablation runner with every flag set, at the smallest sizes: each prints its table."""
import json


from bench import features, inference, load, serving, wide
from train import ablate
from tests.helpers import tiny_pseudo_labels
from train.files import SHARED_MODELS

SPLITS = ["train"] * 4 + ["test"] * 2


def table_rows(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("| ") and not line.startswith("| ---")]


def test_inference_bench_times_each_variant_and_backend_and_writes_json(tmp_path, capsys):
    rows = tmp_path / "rows.json"
    assert inference.main(["--variants", "student", "--backends", "paddle", "onnxruntime", "--sizes", "64",
                           "--batch", "2", "--budget", "0.2", "--json", str(rows)]) == 0
    written = json.loads(rows.read_text())
    assert [(r["variant"], r["backend"]) for r in written] == [("student", "paddle"), ("student", "onnxruntime")]
    assert all("error" not in r for r in written) and "student" in capsys.readouterr().out


def test_load_bench_runs_both_batching_modes_with_bad_requests_mixed_in(hub_module_installed, capsys):
    assert load.main(["--clients", "2", "--seconds", "2", "--warmup-seconds", "1", "--invalid-fraction", "0.5",
                      "--sizes", "64", "128", "--batching", "both", "--server-args=--workers 1 --no-upscale"]) == 0
    rows = table_rows(capsys.readouterr().out)[1:]
    assert [row.split(" | ")[0] for row in rows] == ["| on", "| off"]
    assert all("400: " in row and "200: " in row and row.split(" | ")[-2] == "0" for row in rows)  # none mismatched


def test_features_bench_times_photos_wide_pictures_and_a_day(hub_module_installed, capsys):
    assert features.main(["--repeats", "1"]) == 0
    assert len(table_rows(capsys.readouterr().out)) >= 4


def test_serving_bench_times_a_real_hub_serving(hub_module_installed, capsys):
    assert serving.main(["--size", "64", "--requests", "2", "--clients", "2"]) == 0
    assert len(table_rows(capsys.readouterr().out)) >= 2


def test_wide_bench_compares_wide_and_square_pictures_of_held_out_maps(tmp_path, palette, label_map, capsys):
    from tests.helpers import SHIPPED

    assert wide.main(["--model", str(SHIPPED / "weights"), "--data-root", str(tiny_pseudo_labels(tmp_path, palette, label_map, SPLITS)),
                      "--limit", "2"]) == 0
    out = capsys.readouterr().out
    assert "2 held-out maps" in out and "| 128x192 |" in out and "| 128x128 |" in out


def test_ablation_runner_trains_the_chosen_rows_and_writes_its_section(tmp_path, palette, label_map, capsys):
    tiny_pseudo_labels(tmp_path, palette, label_map, SPLITS)
    report = tmp_path / "report.md"
    report.write_text("# Report\n\n## Ablations\n\nold table\n\n## Kept\n\nhand-written\n")
    assert ablate.main(["--steps", "2", "--image-size", "64", "--variants", "0,7", "--test-limit", "2",
                        "--runs", str(tmp_path / "runs"), "--data-root", str(tmp_path),
                        "--models-root", str(SHARED_MODELS), "--report", str(report)]) == 0
    text = report.read_text()
    assert "old table" not in text and "## Kept\n\nhand-written" in text
    assert "| shipped recipe" in text and "| variety + bilinear upsampling" in text and "2 steps at 64 px" in text
    assert (tmp_path / "runs" / "v7" / "export").is_dir()
