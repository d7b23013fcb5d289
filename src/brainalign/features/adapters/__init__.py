"""Adapters for models whose code is not in the installed libraries (``backend: external``).

Each module provides ``build_extractor(request)`` (an ``ExtractionRequest``) and imports its
upstream package only inside that function, so these modules import anywhere while
building an extractor needs the model's own environment (README, "Models that need
their own environment"). ``adapter: <module>:build_extractor`` in ``config/models.yaml``
names a module of this package by its bare name.
"""
