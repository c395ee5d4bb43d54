"""Who is asking: a `Caller` derived from Unix credentials, never from what a client says.

The daemon reads a connecting peer's uid and gid from the kernel (SO_PEERCRED) and the uid's
supplementary groups from the group database; an embedded console uses its own process's
credentials the same way. `resolve` maps them to a role with the configuration's [access]
section:

1. root and the account that owns the store (the daemon's own user) are ops;
2. a user named in `ops_users` is ops;
3. a user named in `[access.installers.<id>] users` is that installer's staff;
4. a member of a group in `ops_groups` is ops;
5. a member of a group in `[access.installers.<id>] groups` is that installer's staff (a member
   of two installers' groups is refused: one role per account);
6. anyone else has no role and is refused.

Ops see everything and may run SQL. An installer's staff see only that installer's customers,
servers, mails and maintenance, and no SQL. A caller may narrow its scope to one installer
(`narrow`), never widen it. Every write records `Caller.user` as its author.
"""

from __future__ import annotations

import contextlib
import dataclasses
import grp
import os
import pwd
import socket
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from console.errors import AccessDenied
from console.errors import NoRole as NoRole

Role = Literal["ops", "installer"]


@dataclass(frozen=True, slots=True)
class Peer:
    """Unix credentials of a process: the other end of a socket, or this process."""

    uid: int
    gid: int
    pid: int | None = None

    @property
    def user(self) -> str:
        try:
            return pwd.getpwuid(self.uid).pw_name
        except KeyError:
            return str(self.uid)

    def groups(self) -> frozenset[str]:
        """Names of the primary group and of the user's supplementary groups."""
        gids = {self.gid}
        with contextlib.suppress(KeyError, OSError):
            gids.update(os.getgrouplist(pwd.getpwuid(self.uid).pw_name, self.gid))
        names = set()
        for gid in gids:
            try:
                names.add(grp.getgrgid(gid).gr_name)
            except KeyError:
                names.add(str(gid))
        return frozenset(names)


@dataclass(frozen=True, slots=True)
class Caller:
    """The identity a view acts for: `installer` None means every installer (ops, unscoped)."""

    uid: int
    user: str
    role: Role
    installer: str | None = None

    @property
    def may_sql(self) -> bool:
        """SQL cannot be scoped to one installer, so only an unscoped ops caller gets it."""
        return self.role == "ops" and self.installer is None

    def narrow(self, installer: str | None) -> Caller:
        """The same caller limited to `installer`; asking for another installer than one's own
        is refused (a scope can be narrowed, never widened)."""
        if installer is None or installer == self.installer:
            return self
        if self.installer is not None:
            raise AccessDenied(
                f"user {self.user} works for installer {self.installer!r} and cannot open "
                f"installer {installer!r}"
            )
        return dataclasses.replace(self, installer=installer)

    def describe(self) -> str:
        scope = f"installer {self.installer}" if self.installer else "every installer"
        return f"{self.user} ({self.role}, {scope})"


def peer_of(sock: socket.socket) -> Peer:
    """The kernel's word on who is at the other end of a unix socket (SO_PEERCRED)."""
    data = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, gid = struct.unpack("3i", data)
    return Peer(uid=uid, gid=gid, pid=pid)


def this_process() -> Peer:
    return Peer(uid=os.getuid(), gid=os.getgid(), pid=os.getpid())


def resolve(
    peer: Peer, access: Any, *, owner_uid: int, source: Path | str = "the config"
) -> Caller:
    """Map credentials to a Caller with the [access] settings; NoRole when there is none."""
    user = peer.user
    if peer.uid in (0, owner_uid) or user in access.ops_users:
        return Caller(peer.uid, user, "ops")
    for installer, staff in access.installers.items():
        if user in staff.users:
            return Caller(peer.uid, user, "installer", installer)
    groups = peer.groups()
    if groups & set(access.ops_groups):
        return Caller(peer.uid, user, "ops")
    found = sorted(i for i, staff in access.installers.items() if groups & set(staff.groups))
    if len(found) == 1:
        return Caller(peer.uid, user, "installer", found[0])
    if found:
        raise NoRole(
            f"user {user} (uid {peer.uid}) is in the groups of installers {', '.join(found)} in "
            f"{source}; nls gives one role per account: name the user under one installer's "
            "users, or take it out of the other groups"
        )
    raise NoRole(
        f"user {user} (uid {peer.uid}) has no role in {source}: ops add it to [access] ops_users "
        "or ops_groups, or to [access.installers.<id>] users or groups"
    )


def store_owner(database: Path) -> int:
    """The account that owns the store: the database file's owner, else its folder's (where it
    will be created), else this process."""
    for path in (database, database.parent):
        with contextlib.suppress(OSError):
            return path.stat().st_uid
    return os.getuid()


def local_caller(config: Any) -> Caller:
    """This process's own role, for an embedded console or command (the same rules as a
    daemon's peer, with the database file's owner in place of the daemon's account)."""
    return resolve(
        this_process(),
        config.access,
        owner_uid=store_owner(config.database_path),
        source=config.source,
    )
