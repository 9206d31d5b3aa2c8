"""tradewarden: a safety-first Binance trading daemon."""

__version__ = "0.1.0"
