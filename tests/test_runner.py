import json

from nsca.runner import Cell, run_grid


def square(config, cell_dir):
    (cell_dir / "touched").write_text("x")
    return {"value": config["x"] ** 2}


def test_grid_writes_cells_and_skips_finished_ones(tmp_path):
    cells = [Cell("a", s, {"x": s}) for s in range(3)]
    out = run_grid("tests.test_runner:square", cells, tmp_path, workers=1)
    assert [r["metrics"]["value"] for r in out] == [0, 1, 4]
    for c in cells:
        (c.dir(tmp_path) / "touched").unlink()
    (cells[1].dir(tmp_path) / "metrics.json").unlink()  # as if killed before this cell finished
    run_grid("tests.test_runner:square", cells, tmp_path, workers=1)
    touched = [(c.dir(tmp_path) / "touched").exists() for c in cells]
    assert touched == [False, True, False]


def test_grid_redoes_a_cell_whose_config_changed_or_is_corrupt(tmp_path):
    run_grid("tests.test_runner:square", [Cell("a", 0, {"x": 2})], tmp_path)
    out = run_grid("tests.test_runner:square", [Cell("a", 0, {"x": 3})], tmp_path)
    assert out[0]["metrics"]["value"] == 9
    (tmp_path / "a" / "0" / "metrics.json").write_text("{not json")
    out = run_grid("tests.test_runner:square", [Cell("a", 0, {"x": 3})], tmp_path)
    assert json.loads((tmp_path / "a" / "0" / "metrics.json").read_text())["metrics"]["value"] == 9


def test_grid_runs_cells_in_worker_processes(tmp_path):
    cells = [Cell("b", s, {"x": s}) for s in range(4)]
    out = run_grid("tests.test_runner:square", cells, tmp_path, workers=2)
    assert [r["metrics"]["value"] for r in out] == [0, 1, 4, 9]
