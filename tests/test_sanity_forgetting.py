"""`nsca sanity forgetting` end to end at a tiny budget (real Meta-World demos, BC policy, EWC)."""

import json

from nsca.cli import main


def test_forgetting_cli_end_to_end(tmp_path, capsys):
    out = tmp_path / "forgetting"
    argv = ["sanity", "forgetting", "--seeds", "1", "--demos", "1", "--eval-episodes", "1", "--steps-a", "20",
            "--steps-b", "20", "--hidden", "32", "--fisher-samples", "64", "--out", str(out)]
    rc = main(argv)
    printed = capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    # 20 training steps on 1 demo learn neither task, so the check must not pass (a verdict that
    # passed here would pass without any learning).
    assert results["verdict"] == "FAIL" and rc == 1
    assert results["figures"]["ewc"]["b_after"]["mean"] < 0.5
    assert "A-before" in printed and (out / "plot.png").stat().st_size > 1000
    cells = {(r["condition"], r["seed"]): r for r in results["per_seed"]}
    # Both conditions start from the same cached task-A policy.
    assert cells[("ewc", 0)]["a_before"] == cells[("no-ewc", 0)]["a_before"]
    assert cells[("ewc", 0)]["bc_loss_a_before"] == cells[("no-ewc", 0)]["bc_loss_a_before"]
    # EWC holds the task-A weights: the A-demo loss grows less than without it.
    grow = {c: cells[(c, 0)]["bc_loss_a_after"] - cells[(c, 0)]["bc_loss_a_before"] for c in ("ewc", "no-ewc")}
    assert grow["ewc"] < grow["no-ewc"]
    # A rerun reuses the finished cells and gives the same numbers.
    assert main(argv) == rc
    assert json.loads((out / "results.json").read_text())["per_seed"] == results["per_seed"]


def test_unknown_task_is_a_one_line_error(tmp_path, capsys):
    rc = main(["sanity", "forgetting", "--task-b", "pushh-v2", "--out", str(tmp_path / "f")])
    assert rc == 2 and "unknown Meta-World task" in capsys.readouterr().err
