"""The web config's format (``--web.config.file``, the Prometheus exporter-toolkit's),
declared once: its mappings, their keys, what each takes, which keys are required and
which of the toolkit's this server refuses.

:mod:`.webconfig` reads a web config with the keys of each mapping taken from here,
and ``schema-monitor spec json-schema --of web-config`` writes the JSON Schema of
this format for editors (docs/schemas/web-config.schema.json). A refused key is the
toolkit's option that this server cannot honour: named as such, never ignored.
"""

from __future__ import annotations

import ssl
from typing import Annotated

from msgspec import Meta, Struct

from monitor.documents.reader import Refused

CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
BCRYPT = r"^\$2[aby]\$"  # $2a$, $2b$ or $2y$: htpasswd -nBC 12 USER makes one


class _Doc(Struct, forbid_unknown_fields=True, omit_defaults=True):
    """A mapping of the web config: unknown keys are problems."""


class TlsServerConfig(_Doc):
    cert_file: str  # relative paths: to the web config's folder
    key_file: str
    client_auth_type: Annotated[str, Meta(extra_json_schema={"enum": [*CLIENT_AUTH]})] | None = None
    client_ca_file: str | None = None  # required by the client_auth_types that verify
    min_version: Annotated[str, Meta(extra_json_schema={"enum": [*TLS_VERSIONS]})] | None = None
    cipher_suites: Refused = None
    curve_preferences: Refused = None
    prefer_server_cipher_suites: Refused = None
    max_version: Refused = None
    client_allowed_sans: Refused = None
    cert: Refused = None  # the toolkit's inline PEM: files only here
    key: Refused = None


class HttpServerConfig(_Doc):
    headers: dict[str, str] | None = None
    http2: Annotated[bool, Meta(extra_json_schema={"const": False})] | None = None  # HTTP/1.1


class WebConfig(_Doc):
    """The whole document."""

    tls_server_config: TlsServerConfig | None = None  # none or empty: no TLS
    basic_auth_users: dict[str, Annotated[str, Meta(pattern=BCRYPT)]] | None = None
    http_server_config: HttpServerConfig | None = None
