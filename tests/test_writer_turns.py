"""SQLite writers take the writer lock in turns (zyntro.store.engine.writer_gate).

PostgreSQL has no such gate: its row locks queue writers itself, and each organization's
writes touch rows of their own. On SQLite one file has one writer at a time; the gate makes a
writer that is waiting go before a writer that has just finished, so a process that writes
non-stop cannot keep another organization's write waiting (issue 16's bench row measured 188
and 331 ms before the turns, 8-11 ms after).
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path

from zyntro.store.engine import writer_gate


def _held(path: Path) -> bool:
    """Whether another open file holds the lock on `path`."""
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # lets go of it, if it was taken here
    return False


def test_a_waiting_writer_goes_before_one_that_just_wrote(tmp_path: Path) -> None:
    database = tmp_path / "zyntro.db"
    gate = writer_gate(f"sqlite:///{database}")
    order: list[str] = []
    writing = threading.Event()
    finish = threading.Event()

    def busy_writer() -> None:
        with gate():
            writing.set()
            finish.wait(10)
        with gate():  # at once, as a process that writes non-stop does
            order.append("busy writer again")

    def other_writer() -> None:
        writing.wait(10)
        with gate():
            order.append("other writer")

    threads = [threading.Thread(target=busy_writer), threading.Thread(target=other_writer)]
    for thread in threads:
        thread.start()
    assert writing.wait(10)
    # The other writer has taken its turn and waits for the writer lock.
    turn = Path(f"{database}-writer-turn")
    deadline = time.monotonic() + 5
    while not _held(turn) and time.monotonic() < deadline:
        time.sleep(0.001)
    finish.set()
    for thread in threads:
        thread.join(10)
    assert order == ["other writer", "busy writer again"]


def test_the_turn_is_let_go_once_the_writer_lock_is_taken(tmp_path: Path) -> None:
    database = tmp_path / "zyntro.db"
    gate = writer_gate(f"sqlite:///{database}")
    with gate():
        assert _held(Path(f"{database}-writer"))
        assert not _held(Path(f"{database}-writer-turn"))  # the next writer may queue
    assert not _held(Path(f"{database}-writer"))
