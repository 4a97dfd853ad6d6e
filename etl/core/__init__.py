"""Core: what every layer shares — the canonical model, the error tree, findings and the rule
catalogue, whole-column text and hash kernels, and the configuration models. Imports nothing of
the project above it."""
