"""GRPO training: config -> GRPOConfig, callbacks, and the run itself."""
