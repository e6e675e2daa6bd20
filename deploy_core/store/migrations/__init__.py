"""Alembic migrations of the bot state (a package so installers ship it)."""
