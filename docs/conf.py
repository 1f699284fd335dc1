"""Sphinx configuration of the cdm_estimators documentation.

Build: ``python -m sphinx -W -b html docs docs/_build/html`` (after ``pip install -e ".[docs]"``).
"""

import cdm_estimators

project = "cdm_estimators"
author = "the cdm_estimators developers"
copyright = "2026, the cdm_estimators developers"
release = cdm_estimators.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3

autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# No network at build time: intersphinx inventories are not fetched, and cross-references to
# other projects are written as plain literals in the docstrings.
intersphinx_mapping = {}

html_theme = "pydata_sphinx_theme"
html_title = "cdm_estimators"
html_theme_options = {"navigation_with_keys": False, "show_toc_level": 2}
html_static_path = []
