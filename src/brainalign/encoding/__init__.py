"""Ridge encoding models: the estimator, its solver and backends, folds, and the per-layer job.

- :mod:`~brainalign.encoding.ridge_encoder`: :class:`RidgeEncoder` (fit / predict / score);
- :mod:`~brainalign.encoding.ridge_solver`: the shared-decomposition ridge algebra it runs;
- :mod:`~brainalign.encoding.backends`: numpy / torch / CUDA array operations;
- :mod:`~brainalign.encoding.cv_folds`: whole-run cross-validation folds in natural order;
- :mod:`~brainalign.encoding.fitting`: settings from the config and fit-and-score helpers;
- :mod:`~brainalign.encoding.layerwise`: every layer of one feature store for one subject.
"""
