"""The one scoring path: judge verdict -> policies -> rubric arithmetic -> principle scores."""
