"""The trained model cached on disk: loaded when sound, trained again when not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from intents import NLU

TEXTS = ["ile mam do zapłaty", "when do I pay the dog fee", "хочу розстрочку", "xyzzy"]


def _trained(caplog: pytest.LogCaptureFixture) -> bool:
    return any(r.getMessage().startswith("NLU trained") for r in caplog.records)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache holding the packaged model (trained once for this module)."""
    folder = tmp_path_factory.mktemp("nlu-cache")
    NLU.packaged(folder)
    return folder


def _cached_file(folder: Path) -> Path:
    (path,) = folder.glob("nlu-*.npz")
    return path


def test_a_sound_cache_is_loaded_and_parses_as_the_trained_model(
    cache_dir: Path, nlu: NLU, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="intents.nlu")
    loaded = NLU.packaged(cache_dir)
    assert not _trained(caplog)
    assert [loaded.parse(t) for t in TEXTS] == [nlu.parse(t) for t in TEXTS]


def _copy_with(source: Path, folder: Path, **changes: np.ndarray) -> None:
    with np.load(source, allow_pickle=False) as stored:
        arrays = {name: stored[name] for name in stored.files}
    arrays.update(changes)
    np.savez(folder / source.name, **arrays)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "arrays-changed", "sha-missing"])
def test_a_damaged_cache_is_trained_again_and_rewritten(
    cache_dir: Path, tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    source = _cached_file(cache_dir)
    target = tmp_path / source.name
    if damage == "garbage":
        target.write_bytes(b"not a model")
    elif damage == "truncated":
        target.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    elif damage == "arrays-changed":
        with np.load(source, allow_pickle=False) as stored:
            intercept = stored["intercept"] + 1.0
        _copy_with(source, tmp_path, intercept=intercept)
    else:
        with np.load(source, allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in stored.files if name != "sha256"}
        np.savez(target, **arrays)
    caplog.set_level("INFO", logger="intents.nlu")
    NLU.packaged(tmp_path)
    assert _trained(caplog)
    assert any("not used, training again" in r.getMessage() for r in caplog.records)
    assert target.read_bytes() == source.read_bytes()  # rewritten: training is deterministic


def test_a_cache_folder_that_cannot_be_written_only_costs_time(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be", encoding="utf-8")
    model = NLU.packaged(blocker / "cache")
    assert model.parse("ile mam do zapłaty")["intent"]["name"] == "check_balance"
    assert any("not written" in r.getMessage() for r in caplog.records)
