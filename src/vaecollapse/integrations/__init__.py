"""Integrations with other training frameworks (optional extras): ``vaecollapse.integrations.lightning``."""
