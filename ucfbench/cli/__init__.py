"""What the commands share at the terminal: ``@hydra_main`` (errors, validation, quiet output),
the multirun end message, the progress bar and model summary."""
