"""A record's commit is the code that made it: from a dirty git tree a record is refused unless
--allow-dirty, which is then recorded."""

import json

import pytest

from nsca.cli import main
from nsca.utils import provenance

TINY = ["--task", "reach-v2", "--demos", "2", "--eval-episodes", "1", "--episode-steps", "3", "--calibration-steps", "40",
        "--agent.bc-steps", "5", "--agent.world-model-steps", "5", "--agent.planner.horizon", "2",
        "--agent.planner.samples", "4", "--priors", "none", "--no-bc-floor", "--seeds", "1", "--workers", "1"]


@pytest.fixture
def dirty_tree(monkeypatch, tmp_path):
    monkeypatch.setattr(provenance, "git_state", lambda: ("0123abcd", True))
    monkeypatch.setattr(provenance, "RECORDS_DIR", tmp_path / "results")
    return tmp_path


def test_a_record_from_a_dirty_tree_is_refused_unless_allowed_and_then_recorded(dirty_tree, capsys):
    out = dirty_tree / "results" / "phase0" / "run"
    assert main(["lethality", *TINY, "--out", str(out)]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("note: ")]  # the v2->v3 name note
    assert len(err) == 1 and "uncommitted changes" in err[0] and "--allow-dirty" in err[0]
    assert not out.exists() and not (dirty_tree / "results").exists()
    # The pre-registered confirmation is a record wherever it goes.
    assert main(["lethality", "--preset", "confirm", "--out", str(dirty_tree / "runs" / "confirm")]) == 2
    assert "uncommitted changes" in capsys.readouterr().err and not (dirty_tree / "runs").exists()
    # A scratch run is not a record.
    assert main(["lethality", *TINY, "--out", str(dirty_tree / "scratch")]) == 0
    assert main(["lethality", *TINY, "--allow-dirty", "--out", str(out)]) == 0
    saved = json.loads((out / "config.json").read_text())
    assert saved["config"]["allow_dirty"] is True
    assert saved["provenance"]["git_dirty"] is True and saved["provenance"]["git_commit"] == "0123abcd-dirty"
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["allow_dirty"] is True and results["provenance"]["git_commit"] == "0123abcd-dirty"


def test_a_clean_tree_records_its_commit(monkeypatch, tmp_path):
    monkeypatch.setattr(provenance, "git_state", lambda: ("0123abcd", False))
    monkeypatch.setattr(provenance, "RECORDS_DIR", tmp_path / "results")
    provenance.check_recordable(tmp_path / "results" / "x", allow_dirty=False, record=True)  # no refusal
    assert provenance.provenance()["git_commit"] == "0123abcd" and provenance.provenance()["git_dirty"] is False


def test_the_records_own_files_do_not_make_the_tree_dirty(tmp_path):
    """Resuming a record rewrites its tracked config.json before the workers read the git state:
    that is output, not code. A change anywhere else is dirty."""
    import subprocess

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "src").mkdir()
    (tmp_path / "results" / "phase0").mkdir(parents=True)
    (tmp_path / "src" / "code.py").write_text("x = 1\n")
    (tmp_path / "results" / "phase0" / "config.json").write_text("{}\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    commit, dirty = provenance.repo_state(tmp_path)
    assert len(commit) == 40 and not dirty
    (tmp_path / "results" / "phase0" / "config.json").write_text('{"resumed": true}\n')
    (tmp_path / "notes.txt").write_text("untracked\n")
    assert provenance.repo_state(tmp_path) == (commit, False)
    (tmp_path / "src" / "code.py").write_text("x = 2\n")
    assert provenance.repo_state(tmp_path) == (commit, True)
    assert provenance.repo_state(tmp_path / "src") == (commit, True)  # asked from below the root
