"""The Great Expectations suites of the NIR pipeline, built in code.

Installed with the project (``pyproject.toml`` lists this folder as a package) and imported
normally: ``from nir_expectations import completeness``. Each suite module builds
:class:`nir.gate.Check` objects (a DataFrame and the GX expectations to run on it); the
gate (``nir.gate``) runs them. The suites know the configuration (thresholds) and the
published tables' declarations; they import nothing from the publishing code.
"""
