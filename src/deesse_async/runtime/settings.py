"""What connecting needs besides the URL: ``define_config(ssl=...)`` and the timeouts."""

from __future__ import annotations

import dataclasses
import ssl as ssl_module

from ..dialects import DIALECTS
from ..drivers.base import PoolOptions
from ..drivers.url import DatabaseURL, TLSSettings
from ..errors import ConfigError

__all__ = ["connection_settings"]


def connection_settings(
    url: DatabaseURL, context: ssl_module.SSLContext | None, options: PoolOptions
) -> DatabaseURL:
    """The URL plus what connecting needs from ``define_config`` (TLS context, timeout)."""
    tls = url.tls
    if context is not None:
        if not isinstance(context, ssl_module.SSLContext):
            raise ConfigError(
                f"define_config(ssl=...) takes an ssl.SSLContext, got {type(context).__name__}"
            )
        if tls is None:
            name = DIALECTS[url.backend].display_name
            raise ConfigError(f"define_config(ssl=...): {name} has no TLS; drop ssl=")
        explicit = "sslmode" in url.options or "ssl_mode" in url.options
        if (explicit and not tls.required) or tls.ca or tls.cert or tls.key:
            raise ConfigError(
                f"define_config(ssl=...) and the TLS options of {url.display!r} disagree: "
                "give the context alone (it decides what is verified), or the URL options alone"
            )
        tls = TLSSettings(mode="require", context=context)
    return dataclasses.replace(url, tls=tls, connect_timeout=options.connect_timeout)
