"""Every head config (``conf/model/*.yaml``): shapes, gradients, no NaN, padding invariance."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate

from tests.conftest import CONF, REPO, make_cfg
from ucfbench.datamodules import model_input

SEQUENCE_HEADS = sorted(
    p.stem for p in (CONF / "model").glob("*.yaml")
    if not p.stem.startswith("_") and model_input(make_cfg(REPO, [f"model={p.stem}"])) == "features"
)
B, T, D, C = 4, 12, 24, 7


@pytest.fixture(scope="module", params=SEQUENCE_HEADS)
def head(request, tmp_path_factory: pytest.TempPathFactory) -> torch.nn.Module:
    cfg = make_cfg(tmp_path_factory.mktemp("cfg"), [f"model={request.param}"])
    torch.manual_seed(0)
    return instantiate(cfg.model.net)(input_dim=D, num_classes=C)


def test_head_list_is_complete() -> None:
    assert {"gru", "mean_pool"} <= set(SEQUENCE_HEADS)


def test_forward_shape_and_finite(head: torch.nn.Module) -> None:
    head.eval()
    out = head(torch.randn(B, T, D), torch.full((B,), T))
    assert out.shape == (B, C) and torch.isfinite(out).all()


def test_every_parameter_gets_a_gradient(head: torch.nn.Module) -> None:
    head.train()
    head.zero_grad()
    lengths = torch.tensor([T, T - 3, 5, 1])
    loss = torch.nn.functional.cross_entropy(head(torch.randn(B, T, D), lengths), torch.arange(B) % C)
    loss.backward()
    for name, p in head.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, f"{name} received a zero gradient"


def test_padding_never_changes_the_output(head: torch.nn.Module) -> None:
    head.eval()
    lengths = torch.tensor([T, 7, 3, 1])
    x = torch.randn(B, T, D)
    garbage = x.clone()
    for b, n in enumerate(lengths.tolist()):
        garbage[b, n:] = 1e3 * torch.randn(T - n, D)
    with torch.no_grad():
        torch.testing.assert_close(head(x, lengths), head(garbage, lengths), rtol=1e-4, atol=1e-5)
        # ... and equals running the sample alone, unpadded.
        for b, n in enumerate(lengths.tolist()):
            alone = head(x[b : b + 1, :n], torch.tensor([n]))
            torch.testing.assert_close(head(x, lengths)[b : b + 1], alone, rtol=1e-4, atol=1e-5)


def test_mean_pool_is_blind_to_order(tmp_path: Path) -> None:
    cfg = make_cfg(tmp_path, ["model=mean_pool"])
    net = instantiate(cfg.model.net)(input_dim=D, num_classes=C).eval()
    x = torch.randn(B, T, D)
    with torch.no_grad():
        torch.testing.assert_close(net(x, torch.full((B,), T)), net(x.flip(1), torch.full((B,), T)))


@pytest.mark.parametrize("model", ["attentive_probe", "linear_concat"])
def test_the_probes_see_order(model: str, tmp_path: Path) -> None:
    net = instantiate(make_cfg(tmp_path, [f"model={model}"]).model.net)(input_dim=D, num_classes=C).eval()
    x, lengths = torch.randn(B, T, D), torch.full((B,), T)
    with torch.no_grad():
        assert not torch.allclose(net(x, lengths), net(x.flip(1), lengths), atol=1e-4)


def test_linear_concat_zero_pads_short_videos_and_refuses_long_ones(tmp_path: Path) -> None:
    net = instantiate(make_cfg(tmp_path, ["model=linear_concat", "features.sampler.num_frames=5"]).model.net)(
        input_dim=D, num_classes=C).eval()
    x = torch.randn(1, 5, D)
    with torch.no_grad():
        short = net(x[:, :3], torch.tensor([3]))
        torch.testing.assert_close(short, net(torch.cat([x[:, :3], torch.zeros(1, 2, D)], 1), torch.tensor([5])))
        with pytest.raises(ValueError, match="features.sampler.num_frames"):
            net(torch.randn(1, 6, D), torch.tensor([6]))


@pytest.mark.parametrize("experiment", ["synthetic_study", "backbone_study"])
def test_the_studies_sweep_the_probes(experiment: str, tmp_path: Path) -> None:
    models = set(make_cfg(tmp_path, [f"experiment={experiment}"]).hydra.sweeper.params.model.split(","))
    assert {"attentive_probe", "linear_concat", "gru", "mean_pool"} <= models <= set(SEQUENCE_HEADS)
