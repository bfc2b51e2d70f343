"""Dataset loaders behind the registry in ``core.data``: one module per source, plus shared helpers."""
