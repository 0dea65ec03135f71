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
