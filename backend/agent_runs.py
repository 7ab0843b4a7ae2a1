"""Programs run in guests through the agent, kept per host so that screens can come and go.

The agent panel starts a run here and shows it; closing the panel does not stop the run
(it goes on, on its own thread, until the program ends or its time limit passes), and the
panel opened again shows the run as it is now. Each host keeps the last run of each guest,
for at most :data:`MAX_GUESTS` guests (the oldest finished runs go first), so what is kept
is bounded: one result per guest, each bounded by the agent's 16 MiB per stream.

Nothing here refers to a screen: a screen asks :meth:`AgentRuns.get` when it wants to
know, so a closed screen leaves nothing behind.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kvmtui.backend import errors
from kvmtui.backend.agent import GuestAgent
from kvmtui.backend.agent_info import ExecResult, InvalidRequest
from kvmtui.backend.clip import Clipped, clip_error, clip_tail
from kvmtui.backend.failures import describe
from kvmtui.backend.host import Host

#: How many guests of one host keep their last run.
MAX_GUESTS = 16


@dataclass(frozen=True, slots=True)
class RunOutput:
    """A finished run's result with the part of its output that is shown."""

    result: ExecResult
    stdout: Clipped
    stderr: Clipped


@dataclass(eq=False)
class ProgramRun:
    """One program started in one guest; ``output`` or ``error`` once it has ended."""

    uuid: str
    argv: tuple[str, ...]
    limit_s: float
    spool: bool = False  # the output goes through files in the guest (any size)
    started: float = field(default_factory=time.monotonic)
    output: RunOutput | None = None
    error: str | None = None
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def running(self) -> bool:
        return not self.done.is_set()

    def elapsed_s(self, now: float | None = None) -> float:
        return (time.monotonic() if now is None else now) - self.started


class AgentRuns:
    """The runs of one host's guests. Thread-safe; runs happen on their own threads."""

    def __init__(self, max_guests: int = MAX_GUESTS) -> None:
        self.max_guests = max_guests
        self._runs: OrderedDict[str, ProgramRun] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, uuid: str) -> ProgramRun | None:
        with self._lock:
            return self._runs.get(uuid)

    def start(
        self,
        agent: GuestAgent,
        argv: Sequence[str],
        limit_s: float,
        *,
        spool: bool = False,
    ) -> ProgramRun:
        """Run ``argv`` in ``agent``'s guest on a new thread; the run, at once.

        Refused while the guest's previous run is still going.
        """
        run = ProgramRun(agent.uuid, tuple(argv), limit_s, spool)
        with self._lock:
            previous = self._runs.get(agent.uuid)
            if previous is not None and previous.running:
                raise InvalidRequest(
                    f"A program is still running in this guest "
                    f"({' '.join(previous.argv)}, started {previous.elapsed_s():.0f} s ago); "
                    "wait for it to end or for its time limit."
                )
            self._runs.pop(agent.uuid, None)
            self._runs[agent.uuid] = run
            self._evict()
        threading.Thread(
            target=self._run, args=(agent, run), name="agent-exec", daemon=True
        ).start()
        return run

    def hand_over(self, uuid: str, other: AgentRuns) -> None:
        """The guest moved to another host (a migration): its last run goes to that host's
        store, unless the guest already has one there."""
        if other is self:
            return
        with self._lock:
            run = self._runs.pop(uuid, None)
        if run is None:
            return
        with other._lock:
            if uuid not in other._runs:
                other._runs[uuid] = run
                other._evict()

    def _evict(self) -> None:
        finished = [uuid for uuid, run in self._runs.items() if not run.running]
        while len(self._runs) > self.max_guests and finished:
            del self._runs[finished.pop(0)]

    @staticmethod
    def _run(agent: GuestAgent, run: ProgramRun) -> None:
        try:
            result = agent.exec(run.argv, run.limit_s, spool=run.spool)
            # Cut what is shown here, off the UI thread: the screen only draws it.
            run.output = RunOutput(result, clip_tail(result.out), clip_tail(result.err))
        except InvalidRequest as exc:
            run.error = clip_error(str(exc))
        except Exception as exc:  # known failures keep their sentence; the rest go to the log
            run.error = clip_error(describe(exc, f"running {run.argv[0]} in a guest"))
        finally:
            run.done.set()


_STORES: weakref.WeakKeyDictionary[Host, AgentRuns] = weakref.WeakKeyDictionary()
_STORES_LOCK = threading.Lock()


def runs_of(host: Host) -> AgentRuns:
    """The runs of ``host``'s guests: one store per host, living as long as the host."""
    with _STORES_LOCK:
        store = _STORES.get(host)
        if store is None:
            store = _STORES[host] = AgentRuns()
        return store


def check_save_path(text: str) -> Path:
    """Where the admin asked to save an output: refused unless it is a new file in an
    existing directory (nothing is ever overwritten)."""
    typed = text.strip()
    if not typed:
        raise InvalidRequest("Type the path of the file to write.")
    path = Path(typed).expanduser()
    if path.exists():
        raise InvalidRequest(f"{path} exists; kvmtui never overwrites a file. Choose another name.")
    if not path.parent.is_dir():
        raise InvalidRequest(f"The directory {path.parent} does not exist.")
    return path


def save_output(result: ExecResult, path: Path) -> tuple[Path, ...]:
    """Write the run's whole stdout to ``path`` byte for byte, and its stderr (if any) to
    ``path`` + ``.stderr``; the files written. Never overwrites: a file in the way is a
    sentence and nothing is written."""
    targets = [(path, result.out)]
    if result.err:
        targets.append((path.with_name(path.name + ".stderr"), result.err))
    written: list[Path] = []
    try:
        for target, data in targets:
            with target.open("xb") as file:
                written.append(target)
                file.write(data)
    except OSError as exc:
        for done in written:
            done.unlink(missing_ok=True)
        raise errors.OperationError(
            f"Could not save the output to {exc.filename or path}: {exc.strerror or exc}.",
            action="save the output of",
        ) from exc
    return tuple(written)
