import pytest

from nsca.config import from_dict, load_yaml
from nsca.errors import UsageError
from nsca.experiments.lethality import LethalityConfig


def test_unknown_key_is_named():
    with pytest.raises(UsageError, match="unknown config key 'demoz'"):
        from_dict(LethalityConfig, {"demoz": 5})


def test_bad_values_are_named():
    with pytest.raises(UsageError, match="demos must be an integer"):
        from_dict(LethalityConfig, {"demos": "five"})
    with pytest.raises(UsageError, match="backend"):
        from_dict(LethalityConfig, {"backend": "slurm"})
    with pytest.raises(UsageError, match="positive"):
        from_dict(LethalityConfig, {"priors": ["-0.5"]})


def test_yaml_errors_are_one_line(tmp_path):
    bad = tmp_path / "c.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(UsageError) as exc:
        load_yaml(bad)
    assert "\n" not in str(exc.value)
    with pytest.raises(UsageError, match="not found"):
        load_yaml(tmp_path / "missing.yaml")


def test_every_preset_block_builds_a_valid_config():
    from nsca.babbling.run import BabbleConfig
    from nsca.config import presets
    from nsca.model import preset
    from nsca.training.config import TrainConfig

    assert set(presets("model")) == {"default", "debug", "agent", "large"}
    sizes = [preset(name).latent_dim for name in ("debug", "default", "large")]
    assert sizes == sorted(sizes) and len(set(sizes)) == 3
    agent = preset("agent")  # the phase-0 agent: the debug model, wider where the old MLPs were 256
    assert (agent.latent_dim, agent.mlp_hidden, agent.prior_hidden) == (preset("debug").latent_dim, 256, 256)
    for name in presets("train"):
        assert from_dict(TrainConfig, {"preset": name}).preset == name
    for name in presets("babble"):
        from_dict(BabbleConfig, {"preset": name})
    debug = from_dict(BabbleConfig, {"preset": "debug", "steps": 7})
    assert debug.n_objects == 12 and debug.steps == 7 and from_dict(BabbleConfig, {}).n_objects == 120


def test_unknown_preset_is_one_line_exit_2(tmp_path, capsys):
    from nsca.cli import main

    assert main(["babble", "--preset", "huge", "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "nsca babble: error: unknown babble preset 'huge'; choose from default, debug, small"
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("suite", ["physion", "procgen"])
def test_eval_suites_take_their_model_size_from_presets_yaml(suite, tmp_path, capsys, monkeypatch):
    import nsca.config
    from nsca.cli import main
    from nsca.commands.eval import experiment

    cls = experiment(suite).config
    for name in nsca.config.presets("model"):
        assert from_dict(cls, {"preset": name}).preset == name
    assert main(["eval", suite, "--preset", "huge", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("nsca eval: error: unknown model preset 'huge'; choose from ") and "\n" not in err
    assert set(err.split("choose from ")[1].split(", ")) == set(nsca.config.presets("model"))  # the blocks there now
    assert not (tmp_path / "o").exists()
    # A block added to presets.yaml is a valid name without touching the suite.
    sections = {**nsca.config._preset_sections(), "model": {**nsca.config.presets("model"), "tiny": {"latent_dim": 32}}}
    monkeypatch.setattr(nsca.config, "_preset_sections", lambda: sections)
    assert from_dict(cls, {"preset": "tiny"}).preset == "tiny"
