"""Every docstring example of the package runs and shows what it says."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import matplotlib
import pytest

import dlnsam

matplotlib.use("Agg")

# Every module, subpackages' modules included.
MODULES = sorted(
    m.name for m in pkgutil.walk_packages(dlnsam.__path__, "dlnsam.") if m.name != "dlnsam.cli"
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
