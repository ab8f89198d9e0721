"""Forgery engines behind one interface (see :mod:`forgetalk.engines.base`)."""

from .base import Engine, EngineOutput, available_engines, get_engine, register_engine

__all__ = ["Engine", "EngineOutput", "available_engines", "get_engine", "register_engine"]
