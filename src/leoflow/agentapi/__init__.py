"""The control plane's side of the agent protocol (``leoflow.agent.v1.AgentService``)."""

from leoflow.agentapi.server import AgentEndpoint, AgentServer, TlsFiles
from leoflow.agentapi.service import AgentService
from leoflow.agentapi.tokens import AgentTokenIssuer

__all__ = ["AgentEndpoint", "AgentServer", "AgentService", "AgentTokenIssuer", "TlsFiles"]
