"""Who asked: the OS user of the process behind a request, never a name a client sends.

Embedded, that is this process's own user; over the daemon's socket, the kernel's word on the
peer (SO_PEERCRED), read once per connection when the daemon accepts it. Every incident event
records it as its author. (Issue 9's `console.identity.Caller` carries the same user name with a
role; once it lands, `FleetView.author` is `caller.user` and this module keeps only what that
one does not already do.)
"""

from __future__ import annotations

import os
import pwd
import socket
import struct


def user_of(uid: int) -> str:
    """The account name of a uid (the number itself when the account database has none)."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def process_user() -> str:
    return user_of(os.getuid())


def peer_user(sock: socket.socket | None) -> str:
    """The user at the other end of a unix socket, from the kernel (SO_PEERCRED)."""
    if sock is None:
        raise ConnectionError("no socket to read the peer's credentials from")
    data = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", data)
    return user_of(uid)
