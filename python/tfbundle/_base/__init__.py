"""The foundation: paths and version folders, DataTypes, tensor specs.

Imports nothing of tfbundle but errors and _core.
"""
