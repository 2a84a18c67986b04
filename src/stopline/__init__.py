"""stopline: a self-hosted consent and opt-out engine for business text messaging."""

__version__ = "0.1.0"
