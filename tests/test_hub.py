import huggingface_hub.constants as constants

from litelora._hub import available_offline, hub_offline


def test_hub_offline_switches_the_hub_client_off_and_back(monkeypatch) -> None:
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    with hub_offline():
        assert constants.HF_HUB_OFFLINE is True
    assert constants.HF_HUB_OFFLINE is False
    with hub_offline(enabled=False):
        assert constants.HF_HUB_OFFLINE is False


def test_available_offline_knows_folders_and_the_cache_only(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "cache"))
    assert available_offline(str(tmp_path))
    assert not available_offline("some-org/some-model")
    assert not available_offline("not a valid id//")
    repo = tmp_path / "cache" / "models--some-org--some-model"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    (repo / "snapshots" / "abc123").mkdir(parents=True)
    (repo / "snapshots" / "abc123" / "config.json").write_text("{}")
    assert available_offline("some-org/some-model")
