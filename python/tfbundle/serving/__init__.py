"""``tfbundle serve``: TF Serving's REST API and KServe's v2 protocol over tfbundle's runtime.

    >>> from tfbundle.serving import ModelConfig, ServerConfig, create_app
    >>> app = create_app(ServerConfig(models=(ModelConfig("m", "models/m"),)))

``create_app`` returns a Starlette app (run it with uvicorn); the ``tfbundle serve`` command
takes TF Serving's flags and runs it, in one process or several (``--workers``). The modules:

- ``config``: :class:`ServerConfig`, :class:`ModelConfig`, and TF Serving's config files
  (model config list, batching parameters, monitoring config) in text format;
- ``models``: the versions of each served model (hot reload through ``ModelRepository``),
  their states, batchers and metadata;
- ``tfs_json``: TF Serving's REST JSON, read and written as its server does;
- ``kserve``: KServe's v2 protocol, JSON and binary tensors;
- ``metrics``: the Prometheus page;
- ``app``: the routes.

The server's dependencies are the ``serve`` extra: ``pip install tfbundle[serve]``.
"""

from __future__ import annotations

from .app import create_app
from .config import ModelConfig, ServerConfig

__all__ = ["ModelConfig", "ServerConfig", "create_app"]
