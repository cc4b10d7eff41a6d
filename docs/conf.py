"""Sphinx configuration: ``python -m sphinx -W -b html docs docs/_build/html`` (offline)."""

import os
import sys
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "_ext"))
sys.path.insert(0, os.path.dirname(HERE))  # the checkout's numadam, installed or not

import numadam  # noqa: E402

project = "numadam"
author = "the numadam developers"
copyright = "2026, the numadam developers"
version = release = numadam.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "numadam_docs",  # writes the method, API and gallery pages (docs/_ext/numadam_docs.py)
]

autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"member-order": "bysource"}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
# numpydoc turns ``:class:`X``` of a bare name into links; names it cannot resolve stay text.
numpydoc_xref_param_type = False

templates_path = ["_templates"]
exclude_patterns = ["_build"]
# No network at build time: no intersphinx, MathJax from the theme's default CDN only when read.
html_theme = "pydata_sphinx_theme"
html_title = f"numadam {release}"
html_theme_options = {"navigation_with_keys": False, "show_toc_level": 2}
html_static_path = []
nitpicky = False

# numadam.adam & co. carry SciPy's "Options" heading; numadam_docs presents it as "Other
# Parameters" to numpydoc, whose signature pass still parses the raw docstring and says so.
warnings.filterwarnings("ignore", message="Unknown section Options", category=UserWarning)
