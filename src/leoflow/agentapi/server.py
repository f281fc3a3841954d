"""The asyncio gRPC server hosting the AgentService, plaintext or TLS (optionally mutual).

With a certificate and key configured the port speaks TLS only: there is no second plaintext
port to fall back to, so secrets can never leak through a misconfigured agent. Executors ask
the server for its :class:`AgentEndpoint` — what an agent must dial and how to verify it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

import grpc

from leoflow.agentapi.service import AgentService
from leoflow.config import Settings
from leoflow.telemetry import get_logger
from leoflow.telemetry.tracing import grpc_server_interceptors
from leoflow_sdk.agent import settings as agent_env
from leoflow_sdk.protocol import agent_pb2_grpc

log = get_logger(__name__)

MAX_MESSAGE_BYTES = 8 * 1024 * 1024
"""Room for a full-size XCom plus framing; larger messages are refused by gRPC itself."""


class AgentServerConfigError(ValueError):
    """The TLS settings are incomplete or unreadable; the message names the setting."""


@dataclass(frozen=True)
class TlsFiles:
    """Server certificate and key, and the CA that signs client certificates (mTLS)."""

    cert: Path
    key: Path
    client_ca: Path | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> TlsFiles | None:
        cert, key = settings.agent_tls_cert_file, settings.agent_tls_key_file
        if cert is None and key is None:
            if settings.agent_tls_client_ca_file is not None:
                raise AgentServerConfigError(
                    "LEOFLOW_AGENT_TLS_CLIENT_CA_FILE needs LEOFLOW_AGENT_TLS_CERT_FILE and "
                    "LEOFLOW_AGENT_TLS_KEY_FILE (mutual TLS is TLS first)"
                )
            return None
        if cert is None or key is None:
            raise AgentServerConfigError(
                "set both LEOFLOW_AGENT_TLS_CERT_FILE and LEOFLOW_AGENT_TLS_KEY_FILE to serve "
                "the agent port over TLS (or neither for plaintext)"
            )
        return cls(Path(cert), Path(key), settings.agent_tls_client_ca_file)

    def credentials(self) -> grpc.ServerCredentials:
        try:
            cert = self.cert.read_bytes()
            key = self.key.read_bytes()
            ca = self.client_ca.read_bytes() if self.client_ca else None
        except OSError as exc:
            raise AgentServerConfigError(
                f"cannot read agent TLS file {exc.filename}: {exc.strerror}"
            ) from exc
        return grpc.ssl_server_credentials(
            [(key, cert)], root_certificates=ca, require_client_auth=ca is not None
        )


@dataclass(frozen=True)
class AgentEndpoint:
    """How an agent reaches this server: address, and TLS material when the port is TLS."""

    address: str
    tls: bool = False
    tls_ca_file: Path | None = None
    tls_server_name: str | None = None
    client_cert_file: Path | None = None
    client_key_file: Path | None = None

    def agent_environment(self) -> dict[str, str]:
        """The agent-process variables naming this endpoint (the agent's own contract,
        ``leoflow_sdk.agent.settings``); the token is added per try."""
        env = {agent_env.ADDRESS: self.address}
        if not self.tls:
            env[agent_env.INSECURE] = "true"
            return env
        if self.tls_ca_file is not None:
            env[agent_env.TLS_CA] = str(self.tls_ca_file)
        if self.tls_server_name:
            env[agent_env.TLS_SERVER_NAME] = self.tls_server_name
        if self.client_cert_file is not None and self.client_key_file is not None:
            env[agent_env.TLS_CERT] = str(self.client_cert_file)
            env[agent_env.TLS_KEY] = str(self.client_key_file)
        return env


def _host_port(host: str, port: int) -> str:
    try:
        is_v6 = ipaddress.ip_address(host).version == 6
    except ValueError:
        is_v6 = False
    return f"[{host}]:{port}" if is_v6 else f"{host}:{port}"


def _dialable(host: str) -> str:
    """A wildcard bind address is not something to dial; loopback reaches it locally."""
    return {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)


class AgentServer:
    """Owns the grpc.aio server of one process."""

    def __init__(self, service: AgentService, settings: Settings) -> None:
        self.service = service
        self._settings = settings
        self._tls = TlsFiles.from_settings(settings)
        service.tls = self._tls is not None
        self._server: grpc.aio.Server | None = None
        self._port: int | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the agent server is not started")
        return self._port

    async def start(self) -> AgentEndpoint:
        """Bind and serve; returns the endpoint agents must use."""
        server = grpc.aio.server(
            interceptors=grpc_server_interceptors(),
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                ("grpc.so_reuseport", 0),
            ],
        )
        agent_pb2_grpc.add_AgentServiceServicer_to_server(self.service, server)
        bind = _host_port(self._settings.grpc_host, self._settings.grpc_port)
        if self._tls is not None:
            port = server.add_secure_port(bind, self._tls.credentials())
        else:
            port = server.add_insecure_port(bind)
        if not port:
            raise AgentServerConfigError(f"cannot bind the agent gRPC port on {bind}")
        await server.start()
        self._server, self._port = server, port
        endpoint = self.endpoint()
        log.info(
            "agent service listening",
            address=endpoint.address,
            tls=endpoint.tls,
            mutual_tls=bool(self._tls and self._tls.client_ca),
        )
        return endpoint

    def endpoint(self) -> AgentEndpoint:
        settings = self._settings
        address = settings.agent_advertise_address or _host_port(
            _dialable(settings.grpc_host), self.port
        )
        if self._tls is None:
            return AgentEndpoint(address)
        return AgentEndpoint(
            address,
            tls=True,
            tls_ca_file=settings.agent_tls_ca_file or self._tls.cert,
            tls_server_name=settings.agent_tls_server_name,
            client_cert_file=settings.agent_tls_client_cert_file,
            client_key_file=settings.agent_tls_client_key_file,
        )

    async def stop(self, grace: float | None = 5.0) -> None:
        """Stop serving; calls in flight get ``grace`` seconds to finish."""
        if self._server is not None:
            await self._server.stop(grace)
            self._server = None
