"""Operator command groups, each registered by :mod:`idp.cli`."""
