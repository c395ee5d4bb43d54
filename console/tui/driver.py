"""The terminal driver: Textual's Linux driver, made safe for a terminal that goes away.

An ops console runs over SSH, and an SSH session that drops must end the console. Textual 8.2's
`LinuxDriver` hangs there instead (found through tests/test_tui_smoke.py, written up in
docs/upstream/textual-sigcont-hangup.md):

1. On a hangup the kernel sends SIGHUP *and SIGCONT* to the terminal's session. Textual's SIGCONT
   handler resumes "application mode" whenever it gets one, suspended or not: it starts a second
   writer thread and a second input thread, and forgets the first writer (left waiting in
   `get()` forever). Any stray `kill -CONT` does the same to a live console.
2. The new writer's first write to the hung-up terminal raises EIO and kills it. Its queue holds
   30 writes; the 31st (the exit sequence, or `stop()`'s `put(None)`) blocks the main thread.

This driver resumes only after a suspend it performed itself, and writes through a file that
drops output once the terminal is gone, so the writer thread always drains its queue and
`close()` always returns. `NlsApp` adds a watchdog on top (see `HangupGuard`), so whatever else
goes wrong the process ends within a bounded time after the hangup.
"""

from __future__ import annotations

import os
import threading
import time
from typing import IO, Any

from textual.drivers.linux_driver import LinuxDriver


class TerminalFile:
    """A text file proxy for the terminal that stops writing, silently, at the first OSError
    (EIO after a hangup, EPIPE): output to a terminal nobody sees is not an error."""

    def __init__(self, file: IO[str]) -> None:
        self._file = file
        self.lost = threading.Event()

    def write(self, text: str) -> int:
        if self.lost.is_set():
            return len(text)
        try:
            return self._file.write(text)
        except (OSError, ValueError):
            self.lost.set()
            return len(text)

    def flush(self) -> None:
        if self.lost.is_set():
            return
        try:
            self._file.flush()
        except (OSError, ValueError):
            self.lost.set()

    def fileno(self) -> int:
        return self._file.fileno()

    def isatty(self) -> bool:
        return not self.lost.is_set() and self._file.isatty()


class NlsDriver(LinuxDriver):
    """`LinuxDriver` that resumes only from its own suspend and never blocks on a dead tty."""

    def __init__(self, app: Any, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.terminal = TerminalFile(self._file)  # type: ignore[arg-type]
        self._file = self.terminal  # type: ignore[assignment]
        self._suspended = False

    def _sigtstp_application(self, *args: Any) -> None:
        self._suspended = True
        super()._sigtstp_application(*args)

    def _sigcont_application(self, *args: Any) -> None:
        # A SIGCONT we did not ask for (a hangup sends one, so does `kill -CONT`) must not start
        # application mode a second time.
        if not self._suspended or self.terminal.lost.is_set():
            return
        self._suspended = False
        super()._sigcont_application(*args)

    def hung_up(self) -> None:
        """The terminal is gone: drop every further write at once, and stop the input thread,
        which would otherwise spin on end-of-file until the app has exited."""
        self.terminal.lost.set()
        self.exit_event.set()


class HangupGuard:
    """Ends the process `deadline` seconds after `trip()` unless it exited before.

    The thread starts with the console and only waits on an Event, so tripping it from a signal
    handler takes no lock the interrupted code could hold and needs the event loop for nothing.
    """

    def __init__(self, deadline: float, status: int) -> None:
        self.deadline = deadline
        self.status = status
        self._tripped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="nls-hangup-guard", daemon=True)
        self._thread.start()

    def trip(self) -> None:
        self._tripped.set()

    def _run(self) -> None:
        self._tripped.wait()
        time.sleep(self.deadline)
        os._exit(self.status)
