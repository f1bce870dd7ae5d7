"""The scripts that make the tests' models with TensorFlow's Python API.

Each ``<name>.py`` here runs as ``python tests/makers/<name>.py OUT`` in a TensorFlow
subprocess and writes into OUT, a folder that does not exist yet. Tests ask for them by
name through the ``tf_models`` fixture (``tf_models("graphs")``), which runs the maker
once and caches its folder under a key of its source and TensorFlow's version (see
tests/_factory.py). The makers whose constants tests import (``zoo``, ``cli_models``) import
only the standard library and numpy at import time; the others import TensorFlow and run as
scripts only.
"""
