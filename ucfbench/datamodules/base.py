"""What every DataModule of the suite shares: its dataset, and what the model reads off it."""

from __future__ import annotations

import lightning as L
import torch

from ucfbench.data.base import ActionDataset


class ActionDataModule(L.LightningDataModule):
    """A DataModule over one :class:`ActionDataset` and its protocol.

    Subclasses expose ``input_dim`` and ``input_stats`` (None for models that read pixels), which
    ``ActionClassifier.configure_model`` reads with ``num_classes`` and ``classes``.
    """

    input_dim: int | None = None
    input_stats: tuple[torch.Tensor, torch.Tensor] | None = None

    def __init__(self, *, dataset: ActionDataset) -> None:
        super().__init__()
        dataset.check_exists()  # a missing dataset stops here, before a trainer or run files exist
        self.dataset = dataset

    @property
    def num_classes(self) -> int:
        return self.dataset.num_classes

    @property
    def classes(self) -> list[str]:
        return self.dataset.classes

    def prepare_data(self) -> None:
        """Make the dataset ready (generate the synthetic set; Lightning runs this on one process)."""
        self.dataset.prepare()
