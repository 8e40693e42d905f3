"""bench.upscale's latency table runs on a fresh clone: no training data, only the repo and ../shared."""
from bench import upscale


def test_server_only_table_needs_no_training_data(hub_module_installed, tmp_path, capsys):
    assert upscale.main(["--server-only", "--requests", "1", "--count", "2", "--workers", "2",
                         "--data-root", str(tmp_path / "no labels here")]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert len(rows) == 20  # 5 sizes/formats: the served upscalers (cores shared, and not), students, Lanczos
    assert {row.split(" | ")[2] for row in rows} == {"the served upscalers", "their students", "Lanczos only",
                                                     "the served upscalers, cores not shared"}
