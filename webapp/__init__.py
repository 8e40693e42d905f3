"""Miaobi web app (see create_app)."""
