"""Sphinx configuration of winipc's documentation: the API reference, built
by autodoc from the docstrings of the installed package, and the guides of
docs/ (Markdown, read by MyST).

    python -P -m sphinx -W --keep-going -b html docs build/docs

(`-P`, and this file adds nothing to sys.path: autodoc imports the installed
winipc, the one a user has, compiled modules included; tests/test_docs.py
builds it so, warnings as errors.)

Sphinx with autodoc rather than mkdocs with mkdocstrings: the docstrings are
written in reStructuredText (``literals``, :class: roles), which autodoc reads
as it is, and autodoc imports the module and so sees the compiled backend's
classes (PreparedCall) and the signatures Cython embeds in them, where
mkdocstrings reads the source statically and finds no .py for them.  MyST
lets the existing Markdown guides take part in the same build, so a broken
link between a guide and the reference is a warning, hence an error.
"""

import winipc

project = "winipc"
author = "the winipc authors"
copyright = "the winipc authors"
release = winipc.__version__
version = ".".join(release.split(".")[:2])

extensions = ["sphinx.ext.autodoc", "myst_parser"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
# docs/pypi.md is the PyPI page (pyproject.toml's readme), not a page of this site.
exclude_patterns = ["_build", "pypi.md", "roundtrip.json"]

autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_typehints = "signature"
myst_heading_anchors = 3

html_theme = "alabaster"
html_title = f"winipc {release}"
html_static_path = []
