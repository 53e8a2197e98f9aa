"""`python -m attnopt.meta --second-order`: the flag reaches meta-training, is saved in every
checkpoint, and first- and second-order checkpoints are never reused for one another."""
import json

import pytest
import torch

from attnopt.meta import experiments as ex
from attnopt.meta.train import TrainConfig

TINY_TRAIN = TrainConfig(meta_iters=2, meta_batch=4, horizon=4, unroll=2)


@pytest.fixture
def tiny(monkeypatch):
    """A preset small enough that meta-training every model takes about a second."""
    preset = ex.Preset(n_test=4, n_tune=4, lr_grid=(1e-2, 0.1), two_d=TINY_TRAIN, finetune=TINY_TRAIN,
                       horizons=(1,), mlp={"dataset": "digits", "hidden": 2, "batch_size": 8},
                       mlp_train=TINY_TRAIN, mlp_horizons=(1,), mlp_n_test=2, mlp_lr_grid=(0.1, 1.0))
    monkeypatch.setitem(ex.PRESETS, "tiny", preset)
    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)  # main() must not change the test process
    return preset


@pytest.fixture
def trained_configs(monkeypatch):
    """Every TrainConfig meta_train is called with, by the study's progress label."""
    seen = {}
    real = ex.meta_train

    def recording(model, families, cfg, progress=True, desc="meta-train"):
        seen[desc.removeprefix("meta-train ")] = cfg
        return real(model, families, cfg, progress=progress, desc=desc)

    monkeypatch.setattr(ex, "meta_train", recording)
    return seen


def _train(tmp_path, *flags):
    return ex.main(["train", "--scale", "tiny", "--out", str(tmp_path), "--no-progress", *flags])


def _info(path):
    twin = json.loads(path.with_suffix(".json").read_text())["info"]
    stored = torch.load(path, weights_only=True)["info"]
    return twin, stored


def test_help_names_the_flag_and_its_cost(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")  # no wrapping, so no "meta- iteration" hyphen breaks
    with pytest.raises(SystemExit) as exit_:
        ex.main(["--help"])
    assert exit_.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "--second-order" in text and "second-order meta-gradients" in text
    assert "time per meta-iteration" in text and "more memory" in text


@pytest.mark.parametrize("flags,second_order", [((), False), (("--second-order",), True)])
def test_flag_reaches_every_model_and_its_checkpoint(tmp_path, tiny, trained_configs, flags, second_order):
    assert _train(tmp_path, *flags) == 0
    names = set(ex.model_specs(tiny))
    assert set(trained_configs) == names
    assert all(cfg.second_order is second_order for cfg in trained_configs.values())
    suffix = "-second-order" if second_order else ""
    for name in names:
        path = tmp_path / "l2l" / "tiny" / "checkpoints" / f"{name}{suffix}.pt"
        for info in _info(path):
            assert info["cfg.second_order"] is second_order
            assert info["spec"]["train"]["second_order"] is second_order
        assert (tmp_path / "l2l" / "tiny" / "meta_loss" / f"{name}{suffix}.csv").is_file()
    # The fine-tuned model starts from a generalist trained the same way.
    finetuned, _ = _info(tmp_path / "l2l" / "tiny" / "checkpoints" / f"finetuned{suffix}.pt")
    assert finetuned["spec"]["init_from_spec"]["train"]["second_order"] is second_order


def test_checkpoints_are_reused_only_by_the_same_meta_gradient_order(tmp_path, tiny, trained_configs):
    ckpts = tmp_path / "l2l" / "tiny" / "checkpoints"
    first, second = ckpts / "generalist.pt", ckpts / "generalist-second-order.pt"
    ex.Study("tiny", tmp_path, progress=False).model("generalist")
    stamp = first.stat().st_mtime_ns

    # A second-order study trains its own model beside the first-order one and leaves that alone.
    trained_configs.clear()
    ex.Study("tiny", tmp_path, progress=False, second_order=True).model("generalist")
    assert trained_configs["generalist"].second_order is True
    assert second.is_file() and first.stat().st_mtime_ns == stamp

    # Same order again: both reused, nothing trained.
    trained_configs.clear()
    for order in (False, True):
        ex.Study("tiny", tmp_path, progress=False, second_order=order).model("generalist")
    assert trained_configs == {}

    # The reuse key itself tells the orders apart: a first-order checkpoint under the second-order
    # name (renamed by hand, say) is retrained, not loaded, and the same holds the other way round.
    for src, dst, order in ((first, second, True), (second, first, False)):
        for ext in (".pt", ".json"):
            dst.with_suffix(ext).write_bytes(src.with_suffix(ext).read_bytes())
        trained_configs.clear()
        _, info = ex.Study("tiny", tmp_path, progress=False, second_order=order).model("generalist")
        assert trained_configs["generalist"].second_order is order
        assert info["spec"]["train"]["second_order"] is order
        assert all(i["cfg.second_order"] is order for i in _info(dst))


@pytest.mark.filterwarnings("ignore:.*edge of the grid")  # a 2-point grid is all edges
def test_reports_of_the_two_orders_do_not_overwrite_each_other(tmp_path, tiny):
    for flags in ((), ("--second-order",)):
        assert ex.main(["fig6", "--scale", "tiny", "--out", str(tmp_path), "--no-progress", *flags]) == 0
    report = tmp_path / "report"
    plain, second = (report / "fig6.csv").read_text(), (report / "fig6-second-order.csv").read_text()
    assert (report / "fig6.png").is_file() and (report / "fig6-second-order.png").is_file()
    import pandas as pd

    learned = [pd.read_csv(report / f).dropna(subset=["trained_on"]) for f in ("fig6.csv", "fig6-second-order.csv")]
    assert list(learned[0]["second_order"]) == [False] and list(learned[1]["second_order"]) == [True]
    assert plain != second
