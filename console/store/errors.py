"""The store's errors, phrased for the operator; each carries the exit status of the command."""

from __future__ import annotations


class StoreError(Exception):
    """A store problem phrased for the operator."""

    exit_code = 1


class StoreLockedError(StoreError):
    exit_code = 3


class ReadOnlyError(StoreError):
    exit_code = 2
