"""``--web.config.file``: TLS and basic auth in the Prometheus exporter-toolkit format.

The same file that node_exporter or postgres_exporter take::

    tls_server_config:
      cert_file: server.crt            # relative paths: to this file's directory
      key_file: server.key
      client_auth_type: RequireAndVerifyClientCert   # or NoClientCert, VerifyClientCertIfGiven
      client_ca_file: clients-ca.crt
      min_version: TLS12
    basic_auth_users:
      prometheus: $2b$12$...           # bcrypt hash: htpasswd -nBC 12 "" | tr -d ':\\n'
    http_server_config:
      headers: {Strict-Transport-Security: max-age=31536000}

Its format is declared in :mod:`.webconfigdoc`; it is read as the daemon's config
is (:mod:`.config`): the same strict YAML, unknown keys and types reported at their
lines. Options of the toolkit this server cannot honour (client certificates taken
without verification, cipher and curve choices, HTTP/2) are refused by name rather
than ignored.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from monitor.daemon import webconfigdoc as doc
from monitor.daemon.configvalues import ConfigValues
from monitor.daemon.webconfigdoc import CLIENT_AUTH, TLS_VERSIONS
from monitor.documents import yamldoc

T = TypeVar("T")
_UNVERIFIED_CLIENT_AUTH = ("RequestClientCert", "RequireAnyClientCert")


@dataclass(frozen=True, slots=True)
class ServerTls:
    cert_file: Path
    key_file: Path
    client_auth: ssl.VerifyMode = ssl.CERT_NONE
    client_ca_file: Path | None = None
    min_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2

    def context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = self.min_version
        context.load_cert_chain(str(self.cert_file), str(self.key_file))
        if self.client_ca_file is not None:
            context.load_verify_locations(cafile=str(self.client_ca_file))
        context.verify_mode = self.client_auth
        return context


@dataclass(frozen=True, slots=True)
class WebConfig:
    tls: ServerTls | None = None
    basic_auth_users: Mapping[str, bytes] = field(default_factory=dict)  # user -> bcrypt hash
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def scheme(self) -> str:
        """How /metrics and /runbooks are served."""
        return "https" if self.tls is not None else "http"


def load(path: Path) -> WebConfig:
    """Read and check a web config file; every problem in one InputError (exit 2)."""
    text = yamldoc.read_text(path, "web config")
    filename = str(path)
    reader = _Reader(filename, yamldoc.parse(text, filename), path.resolve().parent, {})
    config = reader.config(reader.root)
    reader.finish(text)
    return config


class _Reader(ConfigValues):
    """Problems are worded with the dotted path they are at (``tls_server_config.cert_file``)."""

    def config(self, root: Any) -> WebConfig:
        keys = self.mapping(root, "web config", doc.WebConfig) if root is not None else {}
        if keys is None:
            return WebConfig()
        return WebConfig(
            tls=self.tls(keys.get("tls_server_config"), "tls_server_config"),
            basic_auth_users=self.users(keys.get("basic_auth_users"), "basic_auth_users"),
            headers=self.headers(keys.get("http_server_config"), "http_server_config"),
        )

    def tls(self, node: Any, where: str) -> ServerTls | None:
        if node is None or node == {}:  # no TLS, as in the toolkit
            return None
        keys = self.mapping(node, where, doc.TlsServerConfig)
        if keys is None:
            return None
        cert = self.readable_file(keys.get("cert_file"), f"{where}.cert_file")
        key = self.readable_file(keys.get("key_file"), f"{where}.key_file")
        ca = self.readable_file(keys.get("client_ca_file"), f"{where}.client_ca_file")
        auth_node = keys.get("client_auth_type")
        if auth_node in _UNVERIFIED_CLIENT_AUTH:
            self.refuse(
                node,
                "client_auth_type",
                f"{where}.client_auth_type: {auth_node} (a certificate taken without"
                " verification) is not supported; use VerifyClientCertIfGiven or"
                " RequireAndVerifyClientCert with client_ca_file",
            )
            auth_node = None
        auth = self.pick(auth_node, f"{where}.client_auth_type", CLIENT_AUTH, "NoClientCert")
        if auth != ssl.CERT_NONE and "client_ca_file" not in keys:
            self.problem(node, f"{where}.client_ca_file: required by {auth_node}")
        version = self.pick(keys.get("min_version"), f"{where}.min_version", TLS_VERSIONS, "TLS12")
        if cert is None or key is None:
            return None
        tls = ServerTls(cert, key, auth, ca, version)
        try:
            tls.context()
        except (OSError, ssl.SSLError) as exc:
            self.problem(node, f"{where}: cannot load the certificate or key: {exc}")
            return None
        return tls

    def pick(self, node: Any, where: str, options: Mapping[str, T], default: str) -> T:
        """One of ``options`` by its name; the default's when absent or not one of them."""
        choices = tuple(options)
        return options[self.optional(node, where, lambda n, w: self.one_of(n, w, choices), default)]

    def users(self, node: Any, where: str) -> dict[str, bytes]:
        users = {}
        for user, hashed in self.texts(node, where).items():
            if re.match(doc.BCRYPT, hashed):
                users[user] = hashed.encode()
            else:
                # Never quote the value: a clear-text password put here by mistake stays unseen.
                self.report(
                    (where, user),
                    f"{where}.{user}: not a bcrypt hash (it must start with $2a$, $2b$ or"
                    " $2y$; htpasswd -nBC 12 USER makes one)",
                )
        return users

    def headers(self, node: Any, where: str) -> dict[str, str]:
        keys = self.mapping(node, where, doc.HttpServerConfig) if node is not None else {}
        if keys is None:
            return {}
        if self.optional(keys.get("http2"), f"{where}.http2", self.boolean, False):
            message = "not supported by schema-monitor (it serves HTTP/1.1; leave it out)"
            self.refuse(node, "http2", f"{where}.http2: {message}")
        return self.texts(keys.get("headers"), f"{where}.headers")

    def texts(self, node: Any, where: str) -> dict[str, str]:
        """A mapping of names to text: users to hashes, headers to values."""
        if node is None:
            return {}
        if not isinstance(node, dict):
            self.problem(node, f"{where}: expected a mapping")
            return {}
        found = {}
        for name, value in self.entries(node, node.items()):
            text = self.scalar_text(value, f"{where}.{name}", "a string")
            if text is not None:
                found[str(name)] = text
        return found
