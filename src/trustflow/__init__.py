"""trustflow: an engine for a trust-driven live-commerce marketplace."""

__version__ = "0.1.0"
