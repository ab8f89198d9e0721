"""Forgery engines behind one interface (see :mod:`forgetalk.engines.base`)."""

from .base import (
    CueSpec,
    Engine,
    EngineOutput,
    EngineVocabulary,
    add_engine,
    available_engines,
    get_engine,
    register_engine,
)

__all__ = ["CueSpec", "Engine", "EngineOutput", "EngineVocabulary", "add_engine", "available_engines", "get_engine", "register_engine"]
