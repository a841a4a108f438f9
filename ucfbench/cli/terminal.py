"""What training shows in the terminal: a progress bar with a few metrics, a one-line model summary."""

from __future__ import annotations

from collections.abc import Sequence

from lightning.pytorch.callbacks import ModelSummary, RichProgressBar
from lightning.pytorch.utilities.model_summary import get_human_readable_count


class QuietProgressBar(RichProgressBar):
    """Rich progress bar showing only ``metrics`` (the rest would truncate: ``val/mean_class_a…``).

    Every metric still reaches the loggers and ``history.csv``.
    """

    def __init__(self, *, metrics: Sequence[str] = ("train/loss", "val/loss", "val/top1"), **kwargs) -> None:
        super().__init__(**kwargs)
        self.metrics = tuple(metrics)

    def get_metrics(self, trainer, pl_module) -> dict:
        shown = super().get_metrics(trainer, pl_module)
        return {k: shown[k] for k in self.metrics if k in shown}


class CompactModelSummary(ModelSummary):
    """The modules that hold parameters (the classifier's encoder and head), the totals, on one line (no FLOPs column)."""

    @staticmethod
    def summarize(summary_data, total_parameters: int, trainable_parameters: int, model_size: float,
                  total_training_modes: dict, total_flops: int = 0, **summarize_kwargs) -> None:
        from rich import get_console

        cols = dict(summary_data)
        names = cols["Name"]
        # Leaves only (model.head, not model as well) and only those holding parameters.
        rows = [(n, t, p) for n, t, p in zip(names, cols["Type"], cols["Params"])
                if p.strip() != "0" and not any(m.startswith(f"{n}.") for m in names)]
        parts = [f"{name} ({kind}) {params}" for name, kind, params in rows]
        frozen = total_parameters - trainable_parameters
        total = f"{get_human_readable_count(int(total_parameters))} params"
        if frozen:
            total += f", {get_human_readable_count(int(frozen))} frozen"
        flops = f", {get_human_readable_count(int(total_flops))} FLOPs" if total_flops else ""
        get_console().print(f"Model: {', '.join(parts) or 'no parameters'}; {total} ({model_size:.1f} MB){flops}",
                            highlight=False)
