"""A Hydra app on the project's config that only reports where each job writes (run/sweep dir tests):
``python tests/hydra_app.py -m seed=1,2``."""

from __future__ import annotations

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from ucfbench.utils.resolvers import register_resolvers

register_resolvers()


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    print(f"OUTPUT_DIR {HydraConfig.get().runtime.output_dir}", flush=True)


if __name__ == "__main__":
    main()
