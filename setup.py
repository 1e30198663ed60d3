"""Packaging: ships the top-level ``templates/`` and ``migrations/`` inside the installed ``idp`` package.

A non-editable install (``pip install .``) then finds them as ``idp/templates`` and ``idp/migrations``
(see :func:`idp.resource_dir`).
"""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["idp", "idp.*"]) + ["idp.templates", "idp.migrations"],
    package_dir={"idp.templates": "templates", "idp.migrations": "migrations"},
    package_data={
        "idp": ["static/**/*", "translations/**/*", "data/*"],
        # portal/examples/: the portal's integration examples (idp.web.portal.examples)
        "idp.templates": ["**/*.html", "**/*.txt", "portal/examples/*"],
        "idp.migrations": ["*.ini", "*.mako", "README", "*.py", "versions/*.py"],
    },
    include_package_data=False,
)
