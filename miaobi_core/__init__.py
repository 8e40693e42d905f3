"""Shared library of Miaobi: palette, label-map codec, generator, checkpoints, inference.

Named ``miaobi_core`` (not ``miaobi``) because PaddleHub imports the installed
hub module folder as the package ``miaobi``.
"""
