"""vaecollapse: predict, detect and explain posterior collapse in VAEs, CVAEs and MHVAEs."""

__version__ = "0.1.0"

__all__ = ["__version__"]
