"""Protocol probes (Eocortex HTTP API, SSH host metrics, RDP handshake) and the fleet simulator.

Nothing in this package imports `console`: probes know protocols, not the fleet or the store.
"""
