"""The end-to-end CNN-RNN (a trainable ResNet encoder + the temporal head): shapes, gradients, padding,
attention, frozen stages, view averaging."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from torch.nn.modules.batchnorm import _BatchNorm

from tests.conftest import make_cfg
from ucfbench.backbones.trainable import Backbone2D
from ucfbench.models.classifier import VideoClassifier
from ucfbench.models.heads.masking import reverse_within_length
from ucfbench.models.heads.temporal import TemporalHead
from ucfbench.models.module import ActionClassifier

B, T, S, C = 3, 5, 16, 4


ENCODER_KEYS = ("finetune_layers", "bn_eval")


def _net(**kw) -> VideoClassifier:
    torch.manual_seed(0)
    encoder = Backbone2D(weights=None, **{k: v for k, v in kw.items() if k in ENCODER_KEYS})
    head = TemporalHead(input_dim=encoder.out_dim, num_classes=C, hidden_dim=8, attention_dim=8,
                        **{k: v for k, v in kw.items() if k not in ENCODER_KEYS})
    return VideoClassifier(encoder=encoder, head=head)


def test_config_builds_the_seed_network(tmp_path: Path) -> None:
    cfg = make_cfg(tmp_path, ["model=cnn_rnn", "dataset=ucf101"])
    encoder, net = cfg.model.encoder, cfg.model.net
    assert (encoder.arch, encoder.weights, list(encoder.finetune_layers), net.hidden_dim, net.bidirectional,
            net.attention) == ("resnet18", "IMAGENET1K_V1", ["layer3", "layer4"], 256, True, True)
    assert net.dropout == 0.3 and cfg.model.input_norm == "none" and cfg.model.label_smoothing == 0.1
    model = instantiate(make_cfg(tmp_path, ["model=cnn_rnn"]).model)  # synthetic: weights=null
    model.build(num_classes=C)
    assert isinstance(model.model.encoder, Backbone2D) and not model.model.encoder.pretrained
    assert isinstance(model.model.head, TemporalHead) and model.reads == "clips"


@pytest.mark.parametrize("variant", [{}, {"bidirectional": False}, {"attention": False}, {"num_layers": 2}])
def test_forward_backward_every_trainable_parameter(variant: dict) -> None:
    net = _net(finetune_layers=["all"], **variant).train()
    x, lengths = torch.randn(B, T, 3, S, S), torch.tensor([T, 3, 1])
    logits = net(x, lengths)
    assert logits.shape == (B, C) and torch.isfinite(logits).all()
    torch.nn.functional.cross_entropy(logits, torch.arange(B) % C).backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, f"{name} received a zero gradient"


@pytest.mark.parametrize("variant", [{}, {"bidirectional": False}, {"attention": False}])
def test_padding_never_changes_the_output(variant: dict) -> None:
    net = _net(**variant).eval()
    x, lengths = torch.randn(B, T, 3, S, S), torch.tensor([T, 3, 1])
    garbage = x.clone()
    for b, n in enumerate(lengths.tolist()):
        garbage[b, n:] = 10 * torch.randn(T - n, 3, S, S)
    with torch.no_grad():
        out = net(x, lengths)
        torch.testing.assert_close(out, net(garbage, lengths), rtol=1e-4, atol=1e-5)
        for b, n in enumerate(lengths.tolist()):  # ... and equals the clip alone, unpadded
            torch.testing.assert_close(out[b : b + 1], net(x[b : b + 1, :n], torch.tensor([n])), rtol=1e-4, atol=1e-5)


def test_order_matters() -> None:
    net = _net().eval()
    x, lengths = torch.randn(2, T, 3, S, S), torch.full((2,), T)
    with torch.no_grad():
        assert not torch.allclose(net(x, lengths), net(x.flip(1), lengths))


def test_reverse_within_length_keeps_padding_in_place() -> None:
    x = torch.arange(2 * 4, dtype=torch.float).view(2, 4, 1)
    out = reverse_within_length(x, torch.tensor([4, 2]))
    assert out[..., 0].tolist() == [[3, 2, 1, 0], [5, 4, 6, 7]]
    assert torch.equal(reverse_within_length(out, torch.tensor([4, 2])), x)


def test_attention_over_time_is_a_distribution_over_valid_frames() -> None:
    net = _net().eval()
    lengths = torch.tensor([T, 3, 1])
    with torch.no_grad():
        net(torch.randn(B, T, 3, S, S), lengths)
    att = net.attention_over_time()
    assert att.shape == (B, T)
    torch.testing.assert_close(att.sum(1), torch.ones(B))
    assert (att[1, 3:] == 0).all() and att[2, 0] == pytest.approx(1.0)
    with torch.no_grad():
        logits, weights = net.forward_with_attention(torch.randn(B, T, 3, S, S), lengths)
    assert logits.shape == (B, C) and weights.shape == (B, T)
    assert _net(attention=False).attention_over_time() is None


def test_finetune_layers_decide_what_may_train() -> None:
    net = _net(finetune_layers=["layer4"])
    trainable = {n.split(".")[1] for n, p in net.encoder.named_parameters() if p.requires_grad}
    assert trainable == {"layer4"}
    assert all(p.requires_grad for p in net.head.parameters())
    with pytest.raises(ValueError, match="layer5"):
        _net(finetune_layers=["layer5"])


@pytest.mark.parametrize("bn_eval", [True, False])
def test_frozen_batchnorm_mode_follows_the_switch(bn_eval: bool) -> None:
    net = _net(finetune_layers=["layer4"], bn_eval=bn_eval).train()
    frozen = [m for m in net.encoder.net.layer1.modules() if isinstance(m, _BatchNorm)]
    trained = [m for m in net.encoder.net.layer4.modules() if isinstance(m, _BatchNorm)]
    assert all(m.training != bn_eval for m in frozen)
    assert all(m.training for m in trained)


def test_views_average_class_probabilities() -> None:
    net = _net().eval()
    model = ActionClassifier(net=net.head, encoder=net.encoder, optimizer=functools.partial(torch.optim.Adam),
                             num_classes=C).eval()
    x, lengths = torch.randn(2, 3, T, 3, S, S), torch.tensor([T, 2])  # (B, V, T, 3, H, W)
    with torch.no_grad():
        out = model(x, lengths)
        probs = torch.stack([net(x[:, v], lengths).softmax(-1) for v in range(3)], 1).mean(1)  # (B, C)
    torch.testing.assert_close(out.softmax(-1), probs, rtol=1e-5, atol=1e-6)


@pytest.mark.gpu
def test_one_training_step_in_16_bit_mixed_precision(tmp_path: Path) -> None:
    import lightning as L
    from torch.utils.data import DataLoader

    from ucfbench.models.finetuning import ProgressiveUnfreeze

    x = torch.randn(4, T, 3, 64, 64)
    batches = [{"x": x[i], "lengths": torch.tensor(T), "label": torch.tensor(i % C), "index": torch.tensor(i)}
               for i in range(4)]
    net = _net(finetune_layers=["layer3", "layer4"])
    model = ActionClassifier(net=net.head, encoder=net.encoder, num_classes=C,
                             optimizer=functools.partial(torch.optim.Adam, lr=1e-3))
    dtypes: list[torch.dtype] = []
    model.model.encoder.register_forward_hook(lambda mod, inp, out: dtypes.append(out.dtype))
    trainer = L.Trainer(accelerator="gpu", devices=1, precision="16-mixed", max_steps=1, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, default_root_dir=tmp_path,
                        callbacks=[ProgressiveUnfreeze(unfreeze_epoch=0, train_random_backbone=False)])
    trainer.fit(model, train_dataloaders=DataLoader(batches, batch_size=4))
    assert trainer.global_step == 1 and trainer.precision == "16-mixed"
    assert dtypes == [torch.float16]  # the backbone ran under fp16 autocast
    # The loss scaler may skip a first step whose fp16 gradients overflowed; the weights stay finite.
    assert all(torch.isfinite(p).all() for p in model.parameters())
