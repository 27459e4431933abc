"""The HTTP gateway: channel gateways, agent workspaces and managers, with SPEC R5 enforced."""

from gateway.app import create_app

__all__ = ["create_app"]
