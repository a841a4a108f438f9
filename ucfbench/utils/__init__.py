"""Glue between Hydra configs and the Lightning objects they describe."""
