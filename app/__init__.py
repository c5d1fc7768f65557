"""Backprop Studio: watch backpropagation happen, step by step."""

__version__ = "0.1.0"
