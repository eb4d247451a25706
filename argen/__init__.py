"""ArGen: align a language model to explicit principles (ahimsa, dharma, helpfulness) with GRPO."""

__version__ = "0.1.0"
