"""The application: builds one Host per URI and shows the guest list."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual.app import App
from textual.await_complete import AwaitComplete
from textual.binding import BindingType
from textual.notifications import SeverityLevel
from textual.screen import Screen

from kvmtui.backend.history import DEFAULT_INTERVAL
from kvmtui.backend.host import RETRY_DELAYS, Host, make_hosts
from kvmtui.backend.jobs import JobRegistry, JobState, JobView
from kvmtui.backend.model import ConnectionState, HostChange
from kvmtui.screens import guests as guests_screen
from kvmtui.screens.guests import GuestsScreen
from kvmtui.tui import messages
from kvmtui.tui.executor import FreshContextExecutor
from kvmtui.tui.graphics import Graphics
from kvmtui.tui.polling import Poller, PollerFactory, Pollers, live_poller
from kvmtui.tui.widgets.footer import drop_render_caches
from kvmtui.tui.workers import work

if TYPE_CHECKING:  # loaded once the first lists are drawn (lxml, the agent, pycdlib)
    from kvmtui.backend.seed_watch import SeedWatcher

log = logging.getLogger(__name__)

#: How long an error sentence stays on screen (s).
ERROR_TIMEOUT = 15.0

#: How long quitting waits for the hosts' threads, all together.
STOP_DEADLINE_S = 2.0
#: How long quitting waits for cancelled jobs to clean up (a partial volume deleted).
JOBS_DEADLINE_S = 10.0
#: The log level of a notification of each severity.
_NOTICE_LEVELS: dict[SeverityLevel, int] = {
    "information": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
_OUTCOME_SEVERITY: dict[JobState, SeverityLevel] = {
    JobState.DONE: "information",
    JobState.CANCELLED: "warning",
}
#: Garbage collection paused for start-up (``run_app``) comes back after the first
#: guest lists are painted, or this many seconds after mounting (a host that hangs).
STARTUP_GC_DEADLINE_S = 10.0


@dataclasses.dataclass(frozen=True)
class HostOptions:
    """What every host of the session is made with besides its URI."""

    clock: Callable[[], float] = time.time
    retry_delays: tuple[float, ...] = RETRY_DELAYS
    #: ``-r``: hosts opened later are read-only too.
    readonly: bool = False


class KvmtuiApp(App[None]):
    """Hosts and pollers report from their own threads; the app forwards to every screen."""

    TITLE = "kvmtui"
    #: The guest list is the default screen (no empty screen to build under it first);
    #: Textual loads a screen's own CSS_PATH only when it is pushed, so the app loads
    #: the list's with its own.
    CSS_PATH: ClassVar = [
        "app.tcss",
        Path(guests_screen.__file__).with_name("guests.tcss"),
    ]
    BINDINGS: ClassVar[list[BindingType]] = []

    def __init__(
        self,
        hosts: Sequence[Host],
        *,
        delay: float = DEFAULT_INTERVAL,
        poller_factory: PollerFactory | None = live_poller,
        jobs: JobRegistry | None = None,
        graphics: Graphics = Graphics.TEXT,
        host_options: HostOptions | None = None,
    ) -> None:
        super().__init__()
        self.hosts = tuple(hosts)
        #: How guests' screens are drawn (chosen before the app runs: kvmtui.tui.graphics).
        self.graphics = graphics
        #: How hosts opened during the session are made (the tests' clock and retries).
        self.host_options = host_options or HostOptions()
        #: The saved hosts file (ctrl+o); None: hostfile.default_path() when opened.
        self.hosts_file: Path | None = None
        #: Long operations (uploads, downloads): they outlive the screens that start them.
        self.jobs = jobs if jobs is not None else JobRegistry()
        for host in self.hosts:  # read once the first frame shows the list: on_list_shown
            host.hold_figures()
        self._list_pending: set[str] = set()  # connected hosts whose list is not shown yet
        self._unlisted = {host.label for host in self.hosts}  # no list nor failure yet
        self._backend_stopped = False
        #: One per read-write host, made when start-up ends (``_start_seed_watchers``).
        self._seed_watchers: dict[str, SeedWatcher] | None = None
        self._change_host: Callable[[HostChange], str] = lambda change: ""
        self.pollers = (
            Pollers(self.hosts, poller_factory, delay, self) if poller_factory is not None else None
        )

    def _listener(self, change: HostChange) -> None:
        """Called on a backend thread: only post (thread-safe), never touch widgets."""
        self.post_message(messages.from_change(change))
        watchers = self._seed_watchers
        if watchers:
            watcher = watchers.get(self._change_host(change))
            if watcher is not None:
                watcher.observe(change)

    def _start_seed_watchers(self) -> None:
        """Detach the cloud-init seeds of marked guests after their first boot, on every
        read-write host (``backend.seed_watch``); started once the first lists are drawn."""
        if self._seed_watchers is not None or self._backend_stopped:
            return
        from kvmtui.backend.seed_watch import change_host

        self._change_host = change_host
        self._seed_watchers = {}
        for host in self.hosts:
            self._watch_seeds(host)

    def _watch_seeds(self, host: Host) -> None:
        if self._seed_watchers is None or host.readonly:
            return
        from kvmtui.backend.seed_watch import watch_host

        def say(text: str, failed: bool) -> None:
            self.post_message(messages.SeedNews(text, failed=failed))

        watcher = watch_host(host, say)
        if watcher is not None:
            self._seed_watchers[host.label] = watcher

    def _unwatch_seeds(self, label: str) -> None:
        watcher = (self._seed_watchers or {}).pop(label, None)
        if watcher is not None:
            watcher.request_stop()

    def on_seed_news(self, message: messages.SeedNews) -> None:
        severity: SeverityLevel = "error" if message.failed else "information"
        self.notify(message.text, severity=severity, timeout=ERROR_TIMEOUT)

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """Every notification is literal text: its sentences name guests, volumes and
        hosts as their owners typed them, and a name such as ``web [b]x`` read as markup
        would lose part of itself or become a clickable action. (Widgets pass
        ``markup=True`` on, so the default cannot serve.) Each goes to the log as well, at
        its severity: a notification leaves the screen after a few seconds."""
        log.log(_NOTICE_LEVELS[severity], "said: %s%s", f"{title}: " if title else "", message)
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=False)

    def _job_listener(self, view: JobView) -> None:
        """Called on a job's thread: only post."""
        self.post_message(messages.JobChanged(view))

    def get_default_screen(self) -> Screen[None]:
        """The guest list, made when the app starts running.

        The hosts may have started before (the console script starts them before it
        imports the UI). From here on what they report comes as messages (the event
        loop runs: posting from their threads is safe); what they reported until now
        the screen reads from them when it mounts, which is later. A host connected
        already starts its statistics here."""
        for host in self.hosts:
            host.set_listener(self._listener)
            if host.connected:
                self._list_pending.add(host.label)
            elif host.status.state is ConnectionState.DISCONNECTED:
                self._listed(host.label)
        return GuestsScreen(self.hosts, self.pollers, self.jobs)

    def on_mount(self) -> None:
        self.jobs.add_listener(self._job_listener)
        # Thread workers must not keep their screens alive after they end (executor.py).
        asyncio.get_running_loop().set_default_executor(FreshContextExecutor())
        for host in self.hosts:
            host.start()
        self.set_timer(STARTUP_GC_DEADLINE_S, self._startup_over)

    def _listed(self, label: str) -> None:
        """A host's first list is drawn (or it failed): start-up ends with the last."""
        if label in self._unlisted:
            self._unlisted.discard(label)
            if not self._unlisted:
                self._startup_over()

    def _startup_over(self) -> None:
        """The console script pauses garbage collection while it starts (``run_app``):
        the imports and the first guest lists make hundreds of thousands of objects,
        and a full collection walked them all (70-250 ms at 10,000 guests before the
        first frame). They live as long as the app: they are frozen out of the
        collector's reach (as the pollers do after the first reading), then
        collection resumes."""
        if not gc.isenabled():
            gc.freeze()
            gc.enable()
        for host in self.hosts:  # a host whose list was never shown (it hangs) too
            host.release_figures()
        self._start_seed_watchers()

    async def _shutdown(self) -> None:
        """Textual's shutdown, and the backend's threads stopped whatever happens in it:
        a screen that fails while it closes ends the shutdown before ``on_unmount``,
        which left the pollers and hosts running (and posting) after the event loop
        had closed."""
        try:
            await super()._shutdown()
        finally:
            self._stop_backend()

    def on_unmount(self) -> None:
        self._stop_backend()

    def _stop_backend(self) -> None:
        """Jobs, pollers and hosts stopped, once (on unmount, or when shutdown ends)."""
        if self._backend_stopped:
            return
        self._backend_stopped = True
        self.jobs.remove_listener(self._job_listener)
        # Running jobs are cancelled so that their clean-up runs while the hosts are up.
        self.jobs.shutdown(JOBS_DEADLINE_S)
        for host in self.hosts:
            host.set_listener(None)
        for label in list(self._seed_watchers or {}):
            self._unwatch_seeds(label)
        if self.pollers is not None:
            self.pollers.stop()
        # Stop every host at once: one hung host must not hold up quitting for the rest.
        for host in self.hosts:
            host.request_stop()
        deadline = time.monotonic() + STOP_DEADLINE_S
        for host in self.hosts:
            host.stop(timeout=max(0.0, deadline - time.monotonic()))

    def pop_screen(self) -> AwaitComplete:
        # The closed screen's widgets are gone; Textual's style caches would keep
        # theirs (and their strips) until 1024 other widgets were drawn (footer.py).
        done = super().pop_screen()
        drop_render_caches()
        return done

    def _forward(self, message: messages.AppMessage) -> None:
        for screen in self.screen_stack:
            screen.post_message(messages.copy_message(message))

    def on_host_status_changed(self, message: messages.HostStatusChanged) -> None:
        if message.status.state is ConnectionState.CONNECTED:
            self._list_pending.add(message.status.label)
        elif message.status.state is ConnectionState.DISCONNECTED:
            self._listed(message.status.label)
        self._forward(message)

    def on_guests_loaded(self, message: messages.GuestsLoaded) -> None:
        self._forward(message)

    def on_list_shown(self, message: messages.ListShown) -> None:
        """A host's list is on screen: what would have competed with drawing it starts
        now, the figures its listing lacked, then the statistics of a freshly connected
        host (its first full read; once those figures are in, or its first overcommit
        would miss them: the host sends its list again when they are)."""
        host = next((h for h in self.hosts if h.label == message.host), None)
        if host is None:
            return
        host.release_figures()
        if message.host in self._list_pending and not host.figures_pending:
            self._list_pending.discard(message.host)
            if self.pollers is not None:
                self.pollers.host_connected(message.host)
        self._listed(message.host)

    def on_guest_updated(self, message: messages.GuestUpdated) -> None:
        self._forward(message)

    def on_guest_removed(self, message: messages.GuestRemoved) -> None:
        self._forward(message)

    def on_job_changed(self, message: messages.JobChanged) -> None:
        view = message.view
        if view.finished and view.outcome:
            severity = _OUTCOME_SEVERITY.get(view.state, "error")
            self.notify(view.outcome, severity=severity, timeout=10)
        self._forward(message)

    # -- hosts opened and closed during the session (the hosts screen) --------------------

    def host(self, label: str) -> Host | None:
        return next((h for h in self.hosts if h.label == label), None)

    def open_host(self, uri: str, *, label: str, readonly: bool) -> Host:
        """Add a host to the session and start connecting; its rows and status line
        come as it reports. The label must be new (ValueError with the sentence)."""
        if self.host(label) is not None:
            raise ValueError(f"{label} is open already.")
        options = self.host_options
        host = Host(
            uri,
            readonly=readonly,
            label=label,
            clock=options.clock,
            retry_delays=options.retry_delays,
        )
        self.hosts = (*self.hosts, host)
        if self.pollers is not None:
            self.pollers.add(host)
        # The screens learn of the host before anything it reports (messages keep order).
        self._forward(messages.HostOpened(host))
        host.set_listener(self._listener)
        host.start()
        self._watch_seeds(host)
        return host

    def close_host(self, label: str) -> None:
        """Take a host out of the session: its rows and line go at once, its threads
        are stopped off the UI thread (a hung link may take their whole deadline)."""
        host = self.host(label)
        if host is None:
            return
        host.set_listener(None)
        host.request_stop()
        self._unwatch_seeds(label)
        self.hosts = tuple(h for h in self.hosts if h is not host)
        poller = self.pollers.remove(label) if self.pollers is not None else None
        self._list_pending.discard(label)
        self._forward(messages.HostClosed(label))
        self._stop_closed(host, poller)

    @work(doing=lambda _app, host, _poller: f"closing the connection to {host.label}")
    def _stop_closed(self, host: Host, poller: Poller | None) -> None:
        if poller is not None:
            poller.stop()
        host.stop()

    def action_hosts_screen(self) -> None:
        """The saved hosts: add, edit, remove, connect, disconnect, test."""
        from kvmtui.screens.hosts import HostsScreen  # opened by a key: not at start-up

        if not isinstance(self.screen, HostsScreen):
            readonly = self.host_options.readonly
            self.push_screen(HostsScreen(self, self.hosts_file, readonly=readonly))

    def action_jobs_screen(self) -> None:
        """Running and recent jobs of every host."""
        from kvmtui.screens.jobs import JobsScreen  # opened by a key: not at start-up

        if not isinstance(self.screen, JobsScreen):
            self.push_screen(JobsScreen([h.label for h in self.hosts], self.jobs))

    def on_stats_tick(self, message: messages.StatsTick) -> None:
        self._forward(message)

    def on_stats_error(self, message: messages.StatsError) -> None:
        self._forward(message)

    # -- the error policy (kvmtui.tui.workers) ------------------------------------------

    def on_work_failed(self, message: messages.WorkFailed) -> None:
        """A worker failed: its sentence on screen, and a copy to the screen that ran it."""
        self.notify(message.text, severity="error", timeout=ERROR_TIMEOUT)
        runner = message.runner
        if runner is not self and runner.is_attached:
            runner.post_message(dataclasses.replace(message))

    def _handle_exception(self, error: Exception) -> None:
        # Textual's one path for an exception that ends the app (a render, a handler):
        # the traceback goes to the log as well as to the screen, and run() leaves
        # return_code 1, which the command line exits with.
        log.critical("kvmtui crashed", exc_info=error)
        super()._handle_exception(error)

    # -- statistics controls (bound on the screens that show statistics) -----------------

    def action_toggle_stats(self) -> None:
        """Pause or resume polling on every host."""
        if self.pollers is None:
            self.notify("Statistics are off in this session.")
            return
        if self.pollers.paused:
            self.pollers.resume()
            self.notify("Statistics resumed.")
        else:
            self.pollers.pause()
            self.notify("Statistics paused; space resumes.")
        self._forward(messages.StatsControlChanged(self.pollers.paused, self.pollers.interval))

    def action_set_delay(self) -> None:
        """Ask for a new refresh interval."""
        pollers = self.pollers
        if pollers is None:
            self.notify("Statistics are off in this session.")
            return

        from kvmtui.screens.delay import DelayScreen

        def chosen(seconds: float | None) -> None:
            if seconds is None:
                return
            pollers.set_interval(seconds)
            self.notify(f"Refreshing every {seconds:g} s.")
            self._forward(messages.StatsControlChanged(pollers.paused, pollers.interval))

        self.push_screen(DelayScreen(pollers.interval), chosen)


def make_app(
    uris: Sequence[str | None],
    *,
    readonly: bool = False,
    clock: Callable[[], float] = time.time,
    retry_delays: Sequence[float] | None = None,
    delay: float = DEFAULT_INTERVAL,
    stats: bool | PollerFactory = True,
    jobs: JobRegistry | None = None,
    graphics: Graphics = Graphics.TEXT,
) -> KvmtuiApp:
    """The one way to build the app from URIs, for the tests (the console script starts
    its hosts first: :func:`app_for_hosts`).

    Each entry is a URI, ``NAME=URI`` to give the host its own label, or None for
    libvirt's default. Labels are made unique so every row names its host.
    ``delay`` is the statistics interval in seconds; ``stats`` False turns polling
    off, or is a poller factory (tests replay recorded ticks with one). ``jobs`` is the
    registry of long operations (a fresh one by default); ``graphics`` how guests'
    screens are drawn.
    """
    delays = tuple(retry_delays) if retry_delays is not None else RETRY_DELAYS
    options = HostOptions(clock, delays, readonly)
    hosts = make_hosts(
        uris, readonly=readonly, clock=options.clock, retry_delays=options.retry_delays
    )
    app = app_for_hosts(hosts, delay=delay, stats=stats, jobs=jobs, graphics=graphics)
    app.host_options = options
    return app


def app_for_hosts(
    hosts: Sequence[Host],
    *,
    delay: float = DEFAULT_INTERVAL,
    stats: bool | PollerFactory = True,
    jobs: JobRegistry | None = None,
    graphics: Graphics = Graphics.TEXT,
) -> KvmtuiApp:
    """The app on hosts made by :func:`backend.host.make_hosts`, started or not."""
    factory: PollerFactory | None
    if stats is True:
        factory = live_poller
    elif stats is False:
        factory = None
    else:
        factory = stats
    return KvmtuiApp(hosts, delay=delay, poller_factory=factory, jobs=jobs, graphics=graphics)
