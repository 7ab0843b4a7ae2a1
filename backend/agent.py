"""A guest's QEMU guest agent through libvirt, every call with a time limit.

libvirt's typed APIs where they exist (``guestInfo``, ``interfaceAddresses`` with the
agent as source, ``guestVcpus``, ``getTime``/``setTime``, ``fsFreeze``/``fsThaw``,
``setUserPassword``, agent shutdown and reboot), ``qemuAgentCommand`` for the rest
(``guest-info``, ``guest-ping``, ``guest-fsfreeze-status``, ``guest-fstrim``,
``guest-exec`` and ``guest-exec-status``, and the raw command box).

Every call runs on a short-lived thread and is abandoned at its deadline, so a hung
agent (or host) costs the caller the limit and no more; libvirt's own agent timeouts
end the abandoned call later. libvirt allows the agent only on read-write connections:
on a read-only one every call is refused here, before libvirt is asked.
Passwords travel as :class:`~backend.agent_info.Secret` and are never logged.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import math
import re
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import libvirt
import libvirt_qemu

from kvmtui.backend import errors, lifecycle
from kvmtui.backend.agent_info import (
    AGENT_CHANNEL_NAME,
    AgentAnswers,
    AgentCapabilities,
    AgentPanel,
    AgentState,
    ExecResult,
    GuestClock,
    InvalidRequest,
    Secret,
    TrimResult,
    channel_state,
    panel_from_answers,
    parse_capabilities,
    parse_clock,
    parse_exec_status,
    parse_fstrim,
    parse_request,
)
from kvmtui.backend.host import Host

T = TypeVar("T")

#: Seconds any one agent call may take before the admin is told it did not answer.
DEFAULT_LIMIT_S = 5.0
#: Default time limit of a program run with guest-exec.
EXEC_LIMIT_S = 10.0
#: Freezing syncs every filesystem and trimming walks them all: both may take a while.
FREEZE_LIMIT_S = 30.0
TRIM_LIMIT_S = 60.0
#: Spooled runs: the guest's shell, where the output files go, how much is read back
#: (the agent's own capture limit) and in what pieces (1 MiB is 1.4 MB of base64, well
#: under libvirt's 4 MiB per RPC string).
SPOOL_SHELL = "/bin/sh"
SPOOL_DIR = "/tmp"
SPOOL_MAX_BYTES = 16 * 2**20
READ_CHUNK = 2**20
#: libvirt's own timeout (where it takes one) should fire before ours.
_GRACE_S = 0.5

#: Shown with every "not answering" sentence.
AGENT_HINT = f"Check that qemu-ga runs in the guest on the {AGENT_CHANNEL_NAME} channel."


class AgentUnavailableError(errors.KvmtuiError):
    """No agent to talk to: no channel, qemu-ga not connected, or the guest is off."""


class AgentTimeoutError(AgentUnavailableError):
    """The agent (or the host) did not answer within the call's time limit."""


class AgentRefusedError(errors.KvmtuiError):
    """The agent answered with an error: a disabled command, frozen filesystems..."""


class _Late(Exception):
    """A bounded call passed its deadline."""


def bounded(call: Callable[[], T], limit_s: float) -> T:
    """``call()`` on its own thread; raise :class:`_Late` if it has not returned in time."""
    outcome: list[tuple[bool, Any]] = []
    done = threading.Event()

    def run() -> None:
        try:
            outcome.append((True, call()))
        except BaseException as exc:  # handed to the caller's thread below
            outcome.append((False, exc))
        finally:
            done.set()

    threading.Thread(target=run, name="agent-call", daemon=True).start()
    if not done.wait(limit_s):
        raise _Late
    ok, value = outcome[0]
    if not ok:
        raise value
    result: T = value
    return result


_AGENT_FAILED = re.compile(r"unable to execute QEMU agent command '([^']+)': (.*)", re.DOTALL)


#: libvirt's words when a reply does not fit in one RPC string (VIR_NET_MESSAGE_STRING_MAX).
_TOO_LARGE = "Unable to encode message payload"


def _clean(text: str) -> str:
    return " ".join(text.split()).rstrip(".")


class GuestAgent:
    """The agent of one guest on one host. Blocking: call from worker threads only."""

    def __init__(
        self,
        host: Host,
        uuid: str,
        *,
        limit_s: float = DEFAULT_LIMIT_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.host = host
        self.uuid = uuid
        self.limit_s = limit_s
        self._clock = clock
        #: The agent's commands as last read; raw commands are checked against them.
        self.capabilities: AgentCapabilities | None = None

    @property
    def guest_name(self) -> str:
        cached = self.host.guest(self.uuid)
        return cached.name if cached else self.uuid

    # -- plumbing -----------------------------------------------------------------------

    def _target(self, action: str) -> str:
        return f"Could not {action} guest '{self.guest_name}' on {self.host.label}"

    def _refuse_read_only(self, action: str) -> None:
        if self.host.readonly:
            raise errors.ReadOnlyError(
                f"{self._target(action)}: the connection is read-only, and libvirt allows "
                "the guest agent only on read-write connections. "
                "Start kvmtui without -r/--readonly to use the agent.",
                host=self.host.label,
                guest=self.guest_name,
                action=action,
            )

    def _timeout(self, action: str, limit_s: float) -> AgentTimeoutError:
        return AgentTimeoutError(
            f"{self._target(action)}: no answer within {limit_s:g} s. {AGENT_HINT}",
            host=self.host.label,
            guest=self.guest_name,
            action=action,
        )

    def _translate(self, exc: libvirt.libvirtError, action: str) -> errors.KvmtuiError:
        code = exc.get_error_code()
        message = exc.get_error_message() or str(exc)
        where = {"host": self.host.label, "guest": self.guest_name, "action": action}
        if _TOO_LARGE in message:
            return AgentRefusedError(
                f"{self._target(action)}: the agent's answer is larger than libvirt carries in "
                "one reply (4 MiB, about 3 MiB of program output once base64-encoded), and "
                "the agent has let it go. Ask for less, or for a program run it again with "
                '"Large output" ticked (its output then comes through files in the guest).',
                detail=message,
                code=code,
                **where,
            )
        failed = _AGENT_FAILED.search(message)
        if failed is not None:
            command, why = failed.group(1), _clean(failed.group(2))
            return AgentRefusedError(
                f"{self._target(action)}: the agent refused {command}: {why}.",
                detail=why,
                code=code,
                **where,
            )
        if code == libvirt.VIR_ERR_AGENT_UNRESPONSIVE:
            return AgentUnavailableError(
                f"{self._target(action)}: {_clean(message)}. {AGENT_HINT}", code=code, **where
            )
        if code == libvirt.VIR_ERR_ARGUMENT_UNSUPPORTED and "not configured" in message:
            return AgentUnavailableError(
                f"{self._target(action)}: the guest has no agent channel. "
                "Add one to its XML (the agent panel shows it) and restart the guest.",
                code=code,
                **where,
            )
        return errors.from_libvirt(exc, host=self.host.label, action=action, guest=self.guest_name)

    def call(
        self, action: str, fn: Callable[[libvirt.virDomain], T], limit_s: float | None = None
    ) -> T:
        """``fn(domain)`` within the time limit, libvirt's errors as sentences."""
        self._refuse_read_only(action)
        limit = limit_s if limit_s is not None else self.limit_s
        dom = self.host.domain(self.uuid, action)
        try:
            return bounded(lambda: fn(dom), limit + _GRACE_S)
        except _Late:
            raise self._timeout(action, limit) from None
        except libvirt.libvirtError as exc:
            raise self._translate(exc, action) from exc

    def command(
        self,
        action: str,
        command: str,
        arguments: dict[str, Any] | None = None,
        limit_s: float | None = None,
    ) -> Any:
        """One agent command through ``qemuAgentCommand``; its ``return`` value."""
        return self._request(action, command, arguments, limit_s).get("return")

    def _request(
        self, action: str, command: str, arguments: dict[str, Any] | None, limit_s: float | None
    ) -> dict[str, Any]:
        request: dict[str, Any] = {"execute": command}
        if arguments is not None:
            request["arguments"] = arguments
        text = json.dumps(request)
        limit = limit_s if limit_s is not None else self.limit_s
        seconds = max(1, math.ceil(limit))
        reply = self.call(
            action, lambda d: libvirt_qemu.qemuAgentCommand(d, text, seconds, 0), limit
        )
        answer: dict[str, Any] = json.loads(reply)
        return answer

    # -- state and panel ----------------------------------------------------------------

    def state(self) -> tuple[AgentState, str | None]:
        """The channel's state from the domain XML (works on read-only connections too),
        and the guest's name; the XML read is bounded like every agent call."""
        action = "read the agent channel of"
        dom = self.host.domain(self.uuid, action)
        try:
            xml, active = bounded(lambda: (dom.XMLDesc(0), bool(dom.isActive())), self.limit_s)
        except _Late:
            raise self._timeout(action, self.limit_s) from None
        except libvirt.libvirtError as exc:
            raise self._translate(exc, action) from exc
        return channel_state(xml, active), dom.name()

    def read_answers(self) -> AgentAnswers:
        """Every raw answer the panel needs. Raises only if the agent cannot be reached;
        a section the agent refuses is recorded in ``errors`` and the rest still read."""
        answers = AgentAnswers()
        answers.capabilities = self.command("read the agent of", "guest-info")
        caps = parse_capabilities(answers.capabilities or {})
        self.capabilities = caps
        if caps.supports("guest-fsfreeze-status"):
            answers.freeze_status = self._read(
                answers, "freeze_status", lambda: self.command("read", "guest-fsfreeze-status")
            )
        frozen = "Not readable while the guest's filesystems are frozen; thaw them first."
        reads: list[tuple[str, Callable[[], Any]]] = [
            ("guest_info", lambda: self.call("read", lambda d: d.guestInfo(0, 0))),
            (
                "interfaces",
                lambda: self.call(
                    "read the interfaces of",
                    lambda d: d.interfaceAddresses(
                        libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT, 0
                    ),
                ),
            ),
            ("vcpus", lambda: self.call("read the vCPUs of", lambda d: d.guestVcpus(0))),
            ("time", lambda: self._read_time(answers)),
        ]
        for name, read in reads:
            if answers.freeze_status == "frozen" and name != "guest_info":
                answers.errors[name] = frozen
                continue
            setattr(answers, name, self._read(answers, name, read))
        return answers

    def _read(self, answers: AgentAnswers, name: str, read: Callable[[], T]) -> T | None:
        try:
            return read()
        except AgentRefusedError as exc:
            answers.errors[name] = str(exc)
        except errors.OperationError as exc:
            answers.errors[name] = str(exc)
        return None

    def _read_time(self, answers: AgentAnswers) -> dict[str, int]:
        before = self._clock()
        guest_time: dict[str, int] = self.call("read the clock of", lambda d: d.getTime(0))
        after = self._clock()
        # The agent read its clock somewhere between the two host readings.
        answers.host_epoch = (before + after) / 2
        return guest_time

    def read_panel(self) -> AgentPanel:
        return panel_from_answers(self.read_answers())

    # -- actions ------------------------------------------------------------------------

    def ping(self) -> float:
        """guest-ping; the round trip in seconds."""
        started = time.monotonic()
        self.command("ping the agent of", "guest-ping")
        return time.monotonic() - started

    def read_clock(self) -> GuestClock:
        answers = AgentAnswers()
        guest_time = self._read_time(answers)
        assert answers.host_epoch is not None
        return parse_clock(guest_time, answers.host_epoch, None)

    def set_time_from_host(self) -> GuestClock:
        """Set the guest's clock to the host's (the agent also writes the guest's RTC)."""

        def set_now(dom: libvirt.virDomain) -> None:
            now = self._clock()
            seconds = math.floor(now)
            dom.setTime({"seconds": seconds, "nseconds": int((now - seconds) * 1e9)}, 0)

        self.call("set the clock of", set_now)
        return self.read_clock()

    def shutdown(self) -> None:
        """Power the guest off through the agent (never falls back to ACPI)."""
        self._lifecycle(
            "shut down",
            lambda: lifecycle.shutdown(self.host, self.uuid, lifecycle.ShutdownMode.AGENT),
        )

    def reboot(self) -> None:
        self._lifecycle(
            "reboot", lambda: lifecycle.reboot(self.host, self.uuid, lifecycle.ShutdownMode.AGENT)
        )

    def _lifecycle(self, action: str, run: Callable[[], None]) -> None:
        self._refuse_read_only(action)
        try:
            bounded(run, self.limit_s + _GRACE_S)
        except _Late:
            raise self._timeout(action, self.limit_s) from None

    def freeze(self) -> int:
        """Freeze every guest filesystem (writes block until thawed); how many froze."""
        count: int = self.call(
            "freeze the filesystems of", lambda d: d.fsFreeze(None, 0), FREEZE_LIMIT_S
        )
        return count

    def thaw(self) -> int:
        count: int = self.call("thaw the filesystems of", lambda d: d.fsThaw(None, 0))
        return count

    def frozen(self) -> bool:
        return self.command("read the freeze state of", "guest-fsfreeze-status") == "frozen"

    def fstrim(self) -> tuple[TrimResult, ...]:
        """Discard unused blocks in every guest filesystem; what each one reported."""
        answer = self.command(
            "trim the filesystems of", "guest-fstrim", {"minimum": 0}, TRIM_LIMIT_S
        )
        return parse_fstrim(answer or {})

    def set_password(self, user: str, password: Secret) -> None:
        """Set a guest user's password (the agent runs the guest's chpasswd)."""
        action = "set a password in"
        if not user.strip() or not password:
            raise errors.OperationError(
                f"{self._target(action)}: both the user name and the password are needed.",
                host=self.host.label,
                guest=self.guest_name,
                action=action,
            )
        self.call(action, lambda d: d.setUserPassword(user, password.reveal(), 0))

    def exec(
        self, argv: Sequence[str], limit_s: float = EXEC_LIMIT_S, *, spool: bool = False
    ) -> ExecResult:
        """Run ``argv`` in the guest (no shell unless argv starts one), capture its output.

        Waits until it exits or ``limit_s`` passes; a program still running then is
        reported as such (qemu-ga 7.2 cannot stop it).

        libvirt carries one agent reply in one RPC string of at most 4 MiB, so an output
        over about 3 MiB (base64) cannot come back in guest-exec-status: libvirt fails
        the call and the agent has dropped the output by then. With ``spool`` the
        guest's ``/bin/sh`` sends the program's stdout and stderr to files in the
        guest's /tmp, read back in 1 MiB pieces (guest-file-read) and removed; the
        program, its arguments and exit code are the same.
        """
        action = "run a program in"
        args = tuple(argv)
        if not args or not args[0]:
            raise errors.OperationError(
                f"{self._target(action)}: no program given.",
                host=self.host.label,
                guest=self.guest_name,
                action=action,
            )
        if spool:
            return self._exec_spooled(args, limit_s)
        started = time.monotonic()
        reply = self.command(
            action, "guest-exec", {"path": args[0], "arg": list(args[1:]), "capture-output": True}
        )
        status = self._wait_exec(int(reply["pid"]), started + limit_s)
        return parse_exec_status(
            args, int(reply["pid"]), status, time.monotonic() - started, limit_s
        )

    def _wait_exec(self, pid: int, deadline: float) -> dict[str, Any]:
        """guest-exec-status until the program exits or the deadline passes."""
        pause = 0.05
        while True:
            status: dict[str, Any] = self.command(
                "read the program's status in", "guest-exec-status", {"pid": pid}
            )
            now = time.monotonic()
            if status.get("exited") or now >= deadline:
                return status
            time.sleep(min(pause, max(deadline - now, 0.0)))
            pause = min(pause * 2, 0.5)

    def _exec_spooled(self, args: tuple[str, ...], limit_s: float) -> ExecResult:
        tag = uuid.uuid4().hex[:12]
        out_path, err_path = f"{SPOOL_DIR}/kvmtui-{tag}.out", f"{SPOOL_DIR}/kvmtui-{tag}.err"
        # "$0" "$@" are the program and its arguments exactly as given: nothing expanded.
        script = f'exec "$0" "$@" >{out_path} 2>{err_path}'
        started = time.monotonic()
        reply = self.command(
            "run a program in", "guest-exec", {"path": SPOOL_SHELL, "arg": ["-c", script, *args]}
        )
        pid = int(reply["pid"])
        status = self._wait_exec(pid, started + limit_s)
        elapsed = time.monotonic() - started
        if not status.get("exited"):
            # Still writing: leave its files; reading them now would give half an output.
            return parse_exec_status(args, pid, status, elapsed, limit_s)
        try:
            out, out_cut = self.read_file(out_path)
            err, err_cut = self.read_file(err_path)
        finally:
            self._remove(out_path, err_path)
        result = parse_exec_status(args, pid, status, elapsed, limit_s)
        return dataclasses.replace(result, out=out, err=err, truncated=out_cut or err_cut)

    def read_file(self, path: str, limit: int = SPOOL_MAX_BYTES) -> tuple[bytes, bool]:
        """A guest file's bytes (guest-file-read, 1 MiB a reply), at most ``limit``;
        and whether there was more."""
        action = "read a file in"
        handle = self.command(action, "guest-file-open", {"path": path, "mode": "r"})
        chunks: list[bytes] = []
        size = 0
        try:
            while size <= limit:
                reply = self.command(
                    action, "guest-file-read", {"handle": handle, "count": READ_CHUNK}
                )
                chunk = base64.b64decode(reply.get("buf-b64", ""))
                chunks.append(chunk)
                size += len(chunk)
                if reply.get("eof") or not chunk:
                    break
        finally:
            self.command("close a file in", "guest-file-close", {"handle": handle})
        data = b"".join(chunks)
        del chunks
        if len(data) > limit:
            return data[:limit], True
        return data, False

    def _remove(self, *paths: str) -> None:
        """Remove the spool files; a failure here loses nothing (they are in /tmp)."""
        with contextlib.suppress(errors.KvmtuiError):
            self.command("clean up in", "guest-exec", {"path": "rm", "arg": ["-f", *paths]})

    def raw(self, text: str, limit_s: float | None = None) -> tuple[str, str]:
        """Send the admin's JSON command as typed; its name and the reply, indented.

        Refused before sending when the JSON is not a command or (once the agent's
        commands are known) names one the agent does not offer.
        """
        command, arguments = parse_request(text)
        if self.capabilities is not None:
            why = self.capabilities.why_not(command)
            if why is not None:
                raise InvalidRequest(f"Not sent: {why}.")
        reply = self._request(f"send {command} to", command, arguments, limit_s)
        return command, json.dumps(reply, indent=2, sort_keys=True)
