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

Options of the toolkit this server cannot honour (client certificates taken
without verification, cipher and curve choices, HTTP/2) are refused by name
rather than ignored.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor.documents import yamldoc
from monitor.documents.reader import Reader

CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
_UNVERIFIED_CLIENT_AUTH = ("RequestClientCert", "RequireAnyClientCert")
TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
_TLS_KEYS = ("cert_file", "key_file", "client_auth_type", "client_ca_file", "min_version")
_TLS_KEYS_REFUSED = (
    "cipher_suites",
    "curve_preferences",
    "prefer_server_cipher_suites",
    "max_version",
    "client_allowed_sans",
    "cert",
    "key",
)
_BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")


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


def load(path: Path) -> WebConfig:
    """Read and check a web config file; every problem in one InputError (exit 2)."""
    # The engine the spec and the config go through: regular files only, bounded
    # size, aliases capped, duplicate keys refused, every problem with its line.
    text = yamldoc.read_text(path, "web config")
    data = yamldoc.parse(text, str(path))
    reader = _Reader(str(path), {} if data is None else data, path.resolve().parent)
    config = reader.config(reader.root)
    reader.finish(text)
    return config


class _Reader(Reader):
    """Problems are worded with the dotted path they are at (``tls_server_config.cert_file``)."""

    def __init__(self, filename: str, root: Any, base: Path) -> None:
        super().__init__(filename, root)
        self.base = base

    def add(self, what: str, message: str) -> None:
        self.report(self.add_path(what), message)

    @staticmethod
    def add_path(what: str) -> tuple[str, ...]:
        return tuple(part for part in what.split(".") if part != "web config")

    def mapping(self, value: Any, what: str, known: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.add(what, f"{what}: expected a mapping")
            return {}
        for key in value:
            if key not in known:
                self.add(what, f"{what}: unknown key {key!r} (expected one of: {', '.join(known)})")
        return value

    def config(self, data: Any) -> WebConfig:
        top = self.mapping(
            data, "web config", ("tls_server_config", "basic_auth_users", "http_server_config")
        )
        tls = self.tls(top["tls_server_config"]) if top.get("tls_server_config") else None
        users = self.users(top.get("basic_auth_users") or {})
        headers = self.headers(top.get("http_server_config") or {})
        return WebConfig(tls=tls, basic_auth_users=users, headers=headers)

    def tls(self, value: Any) -> ServerTls | None:
        what = "tls_server_config"
        keys = self.mapping(value, what, _TLS_KEYS + _TLS_KEYS_REFUSED)
        for refused in _TLS_KEYS_REFUSED:
            if refused in keys:
                self.add(what, f"{what}.{refused}: not supported by schema-monitor")
        cert = self.file(keys.get("cert_file"), f"{what}.cert_file", required=True)
        key = self.file(keys.get("key_file"), f"{what}.key_file", required=True)
        auth_name = keys.get("client_auth_type", "NoClientCert")
        auth = CLIENT_AUTH.get(str(auth_name))
        if auth_name in _UNVERIFIED_CLIENT_AUTH:
            self.add(
                what,
                f"{what}.client_auth_type: {auth_name} (a certificate taken without"
                " verification) is not supported; use VerifyClientCertIfGiven or"
                " RequireAndVerifyClientCert with client_ca_file",
            )
        elif auth is None:
            self.add(
                what,
                f"{what}.client_auth_type: {auth_name!r} is not one of {', '.join(CLIENT_AUTH)}",
            )
        ca = self.file(keys.get("client_ca_file"), f"{what}.client_ca_file", required=False)
        if auth in (ssl.CERT_OPTIONAL, ssl.CERT_REQUIRED) and ca is None:
            self.add(what, f"{what}.client_ca_file: required by {auth_name}")
        version = keys.get("min_version", "TLS12")
        minimum = TLS_VERSIONS.get(str(version))
        if minimum is None:
            self.add(
                what, f"{what}.min_version: {version!r} is not one of {', '.join(TLS_VERSIONS)}"
            )
        if cert is None or key is None or auth is None or minimum is None:
            return None
        tls = ServerTls(cert, key, auth, ca, minimum)
        try:
            tls.context()
        except (OSError, ssl.SSLError) as exc:
            self.add(what, f"{what}: cannot load the certificate or key: {exc}")
            return None
        return tls

    def file(self, value: Any, what: str, *, required: bool) -> Path | None:
        if value is None:
            if required:
                self.add(what, f"{what}: required")
            return None
        if not isinstance(value, str) or not value.strip():
            self.add(what, f"{what}: expected a file name")
            return None
        path = Path(value).expanduser()
        path = path if path.is_absolute() else self.base / path
        if not path.is_file():
            self.add(what, f"{what}: file not found: {path}")
            return None
        return path

    def users(self, value: Any) -> dict[str, bytes]:
        if not isinstance(value, dict):
            self.add(
                "basic_auth_users", "basic_auth_users: expected a mapping of user names to hashes"
            )
            return {}
        users = {}
        for user, hashed in value.items():
            if not isinstance(user, str) or not isinstance(hashed, str):
                self.add(
                    f"basic_auth_users.{user}",
                    f"basic_auth_users: {user!r}: expected a bcrypt hash string",
                )
            elif not hashed.startswith(_BCRYPT_PREFIXES):
                # Never quote the value: a clear-text password put here by mistake stays unseen.
                self.add(
                    f"basic_auth_users.{user}",
                    f"basic_auth_users.{user}: not a bcrypt hash (it must start with $2a$,"
                    " $2b$ or $2y$; htpasswd -nBC 12 USER makes one)",
                )
            else:
                users[user] = hashed.encode()
        return users

    def headers(self, value: Any) -> dict[str, str]:
        server = self.mapping(value, "http_server_config", ("headers",))
        headers = server.get("headers") or {}
        if not isinstance(headers, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
        ):
            self.add(
                "http_server_config.headers",
                "http_server_config.headers: expected a mapping of strings",
            )
            return {}
        return dict(headers)
