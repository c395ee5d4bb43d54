"""Give a simulated fleet its host protocols (SSH metrics and RDP) beside the Eocortex API."""

from __future__ import annotations

from probes.simulator.fleet import Fleet
from probes.simulator.rdp import rdp_listener_factory
from probes.simulator.ssh import ssh_listener_factory


def add_host_protocols(
    fleet: Fleet, *, ssh_port: int = 2222, rdp_port: int = 3389, realtime: bool = False
) -> str:
    """Add SSH and RDP listeners to every server (port 0: a free port each, known after start).

    The SSH user and password are the fleet's Eocortex ones. Returns the fleet's SSH host public
    key (one for all servers) so a configuration can verify it through a known_hosts file.
    `realtime`: metrics commands answer after their sample window, as a real host does.
    """
    for server in fleet.servers.values():
        server.ssh_port = ssh_port
        server.rdp_port = rdp_port
    ssh = ssh_listener_factory(username=fleet.login, password=fleet.password, realtime=realtime)
    fleet.add_listener_factory(ssh)
    fleet.add_listener_factory(rdp_listener_factory())
    return ssh.host_key.export_public_key().decode().strip()


def known_hosts(fleet: Fleet, public_key: str) -> str:
    """known_hosts lines for every server's SSH endpoint; call after the fleet started."""
    return "".join(f"[{s.address}]:{s.ssh_port} {public_key}\n" for s in fleet.servers.values())
