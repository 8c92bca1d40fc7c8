"""The docstring examples of the simulator modules run and hold."""
from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["sim.errors", "sim.orbit", "sim.passes", "sim.link", "sim.channel", "sim.storage", "sim.accounting"]


@pytest.mark.parametrize("name", MODULES)
def test_module_doctests(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
