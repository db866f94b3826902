"""Where a control endpoint listens, and the files that guard it on this machine.

    ControlAddress      `unix:PATH` or `tcp://HOST:PORT`, parsed and checked
    SOCKET_NAME         the endpoint of `servicedeck run`: `<state dir>/servicedeck.sock`
    TOKEN_FILE_NAME     the bearer token a TCP endpoint generated: `<state dir>/control.token`
    TOKEN_VARIABLE      the token given by the environment: SERVICEDECK_CONTROL_TOKEN

The state directory is private to its user (0700), the socket and the token file are
0600: on one machine, the file system's permissions are what keeps others out of a Unix
socket; over TCP, the bearer token does. Standard library only: the command line's
start-up pays nothing for it.
"""

from __future__ import annotations

import contextlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

__all__ = [
    "SOCKET_NAME",
    "TOKEN_FILE_NAME",
    "TOKEN_VARIABLE",
    "ControlAddress",
    "create_token",
    "make_private_dir",
    "read_token",
]

SOCKET_NAME = "servicedeck.sock"
TOKEN_FILE_NAME = "control.token"
TOKEN_VARIABLE = "SERVICEDECK_CONTROL_TOKEN"

_FORMS = "unix:PATH or tcp://HOST:PORT"


@dataclass(frozen=True, slots=True)
class ControlAddress:
    """Where a control endpoint listens: a Unix socket, or a TCP host and port.

    Build one with `ControlAddress.parse()`; `str()` gives it back in the same form.
    """

    scheme: Literal["unix", "tcp"]
    path: str = ""
    """The socket's path (`unix`)."""
    host: str = ""
    """The host name or IP address (`tcp`)."""
    port: int = 0
    """The port (`tcp`); 0 lets the system choose one when serving."""

    @classmethod
    def parse(cls, text: str | os.PathLike[str]) -> ControlAddress:
        """The address `text` names: `unix:PATH`, `tcp://HOST:PORT`, or a path.

        A path names a socket, or a state directory that holds `servicedeck.sock`.

        Raises:
            ValueError: `text` is none of those (the message names it and the forms).
        """
        if isinstance(text, os.PathLike):
            text = os.fspath(text)
        raw = text.strip()
        if raw.startswith("unix:"):
            path = raw[len("unix:") :]
            if path.startswith("//"):
                path = path[2:]  # unix:///run/x.sock, as some clients write it
            if not path:
                raise ValueError(f"control address {text!r} has no path; use {_FORMS}")
            return cls("unix", path=os.path.abspath(os.path.expanduser(path)))
        if "://" in raw:
            return cls._parse_tcp(text, raw)
        if not raw:
            raise ValueError(f"the control address is empty; use {_FORMS}")
        path = os.path.abspath(os.path.expanduser(raw))
        if os.path.isdir(path):
            path = os.path.join(path, SOCKET_NAME)
        return cls("unix", path=path)

    @classmethod
    def _parse_tcp(cls, text: str, raw: str) -> ControlAddress:
        try:
            parts = urlsplit(raw)
            port = parts.port
        except ValueError as exc:
            raise ValueError(
                f"control address {text!r} is not valid ({exc}); use {_FORMS}"
            ) from None
        if parts.scheme != "tcp":
            raise ValueError(
                f"control address {text!r} has the scheme {parts.scheme!r}; use {_FORMS}"
            )
        if not parts.hostname or port is None or parts.path not in ("", "/"):
            raise ValueError(f"control address {text!r} needs a host and a port; use {_FORMS}")
        return cls("tcp", host=parts.hostname, port=port)

    @property
    def is_loopback(self) -> bool:
        """True for a Unix socket, and for a TCP host on this machine only (127.0.0.0/8,
        ::1, `localhost`): nothing another machine can reach."""
        if self.scheme == "unix":
            return True
        if self.host == "localhost":
            return True
        import ipaddress  # here: what is imported at start-up, every command pays for

        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False  # a host name: it may resolve to anything

    @property
    def url(self) -> str:
        """The base URL an HTTP client uses (a Unix socket's is `http://localhost`)."""
        if self.scheme == "unix":
            return "http://localhost"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def __str__(self) -> str:
        if self.scheme == "unix":
            return f"unix:{self.path}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"tcp://{host}:{self.port}"


def make_private_dir(path: Path) -> None:
    """Create folder `path` (and its parents) if missing, the folder itself 0700.

    An existing folder keeps its permissions: it may be one the user chose to share.
    """
    if path.is_dir():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
        os.chmod(path, 0o700)  # mkdir's mode is masked by the umask


def read_token(state_dir: Path | None) -> str | None:
    """The bearer token for this machine's endpoints: SERVICEDECK_CONTROL_TOKEN, else the
    token file in `state_dir`, else None."""
    token = os.environ.get(TOKEN_VARIABLE, "").strip()
    if token:
        return token
    if state_dir is None:
        return None
    try:
        return (state_dir / TOKEN_FILE_NAME).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def create_token(state_dir: Path) -> tuple[str, bool]:
    """The token of `state_dir`'s file, made (random, 0600) if there is none.

    Returns:
        `(token, created)`: `created` is True when this call wrote the file.

    Raises:
        OSError: the file cannot be read or written.
    """
    import secrets

    make_private_dir(state_dir)
    path = state_dir / TOKEN_FILE_NAME
    token = secrets.token_urlsafe(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise PermissionError(
                f"the token file {str(path)!r} can be read by others (mode {mode:04o}); "
                "remove it, or make it private with `chmod 600`"
            ) from None
        existing = path.read_text(encoding="utf-8").strip()
        if existing:
            return existing, False
        path.write_text(token + "\n", encoding="utf-8")
        return token, True
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(token + "\n")
    return token, True
