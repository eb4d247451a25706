"""TRL reward functions: thin adapters from GRPOTrainer's calling convention to the Scorer.

Built from the ``reward`` config group by :func:`argen.rewards.registry.build_reward_functions`.
"""
