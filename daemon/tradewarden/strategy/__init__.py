"""Strategies: turn market ticks into signals. Sizing and risk are not their business."""

from tradewarden.strategy.base import Signal, Strategy
from tradewarden.strategy.registry import build_strategy

__all__ = ["Signal", "Strategy", "build_strategy"]
