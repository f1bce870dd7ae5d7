"""The foundation: paths and version folders, tag-sets, DataTypes, tensor specs.

With errors and _proto (the schema) it is the bottom layer: it imports nothing of tfbundle
above it (``paths`` reads the ``checkpoint`` state file through ``_proto.parsing``).
"""
