"""Is anything listening at a host and port? Asked before handing an address to a library (Ray,
MLflow) whose own connection retries take minutes to give up."""

from __future__ import annotations

CONNECT_TIMEOUT_S = 5.0
"""Seconds to wait for an address to answer before saying it cannot be reached."""


def unreachable(host: str, port: int) -> str | None:
    """Why nothing answers at `host:port` (one line), or None when something does."""
    import socket

    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        return exc.strerror or str(exc) or type(exc).__name__
    return None
