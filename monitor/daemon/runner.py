"""`schema-monitor run`: scheduled drift and statistics checks behind /metrics.

The :class:`Daemon` is the process: one :class:`~monitor.daemon.target.TargetRunner`
per watched database (its single session, both checks on it one at a time), the
:class:`~monitor.daemon.jobs.Jobs` that fire their runs, reloads of the config and
the targets file, signals, the watchdog and the web server that renders the
:class:`~monitor.daemon.results.ResultsStore`.
"""

from __future__ import annotations

import signal
import threading
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from monitor import __version__
from monitor.clock import SYSTEM_CLOCK, Clock, SteadyClock
from monitor.daemon import config as config_module
from monitor.daemon import events as log_module
from monitor.daemon import fleet, metrics, state_dir, webconfig
from monitor.daemon.jobs import Jobs
from monitor.daemon.results import Results, ResultsStore, TargetResults
from monitor.daemon.target import STOP_GRACE_SECONDS, TargetRunner
from monitor.daemon.web import Exposition, WebServer
from monitor.daemon.webconfig import ServerTls, WebConfig
from monitor.errors import ExitCode, MonitorError
from monitor.postgres import db
from monitor.schema.model import Severity, State

_SIGNAL_POLL_SECONDS = 0.25
_WATCHDOG_POLL_SECONDS = 0.5
_FAILING = frozenset({Severity.CRITICAL, Severity.WARNING})


class Daemon:
    """Targets, scheduler and web server; reloads on request, stops on request."""

    def __init__(
        self,
        config: config_module.Config,
        specs: dict[str, State],
        *,
        listen_address: str | None = None,
        web_config: WebConfig | None = None,
        clock: Clock = SYSTEM_CLOCK,
        shard: fleet.Shard | None = None,
        keep_state: bool = True,
    ) -> None:
        self.config = config
        self._shard = shard  # --shard, kept for reloads
        self._keep_state = keep_state
        self._web_config = web_config
        self._log = log_module.get_logger()
        self._events = log_module.Events(self._log)
        # Every check, the window and its report read this clock: a step of the wall clock
        # is logged and taken out, and the jobs' next runs move with it (Jobs.follow_step).
        self._clock = SteadyClock(clock, self._wall_clock_stepped)
        self._steps: list[float] = []  # wall-clock steps seen, for serve() to follow
        self.store = ResultsStore(
            Results(version=__version__, config_last_reload_success=self._clock.now())
        )
        self._runners: dict[str, TargetRunner] = {}
        self._install(config, specs)
        self._targets_file = fleet.FileWatch(config.targets_file)
        self._listen_address = listen_address or config.web.listen_address
        self._jobs = Jobs(config.max_concurrent_checks, self._events)
        self._web: WebServer | None = None
        self._wake = threading.Event()
        self._stop_requested = False
        self._reload_requested = False
        self._status_requested = False
        self._reloading: threading.Thread | None = None
        self._loaded: tuple[config_module.Config, dict[str, State]] | str | None = None
        self._stopped = threading.Event()
        self._exit_code: int = ExitCode.OK

    @property
    def runners(self) -> dict[str, TargetRunner]:
        return dict(self._runners)

    @property
    def url(self) -> str | None:
        return self._web.url if self._web is not None else None

    def _install(self, config: config_module.Config, specs: dict[str, State]) -> None:
        """Make the runners match `config`, keeping the sessions that can be kept."""
        runners: dict[str, TargetRunner] = {}
        for target in config.targets:
            old = self._runners.get(target.name)
            if old is not None and old.can_keep(target, config):
                old.reconfigure(target, specs[target.name], config)
                runners[target.name] = old
                continue
            if old is not None:
                old.stop()
                old.close()
            runners[target.name] = TargetRunner(
                target,
                specs[target.name],
                config,
                self.store,
                self._events,
                self._clock,
                self._window_ended,
                keep_state=self._keep_state,
            )
        for name, old in self._runners.items():
            if name not in runners:
                old.stop()
                old.close()
                self._events.forget(name)
        self._runners = runners
        self.config = config

        def keep(results: Results) -> Results:
            current = {t.name: t for t in results.targets}
            return replace(
                results,
                targets=tuple(
                    current.get(n) or runners[n].window.counters(TargetResults(name=n))
                    for n in runners
                ),
            )

        self.store.update(keep)

    # -- lifecycle ------------------------------------------------------------

    def start(self) -> None:
        web_config = self._effective_web_config()
        # The alerts' runbook links look the scheme up (schema_monitor_web_info).
        self.store.update(lambda results: replace(results, web_scheme=web_config.scheme))
        exposition = Exposition(metrics.Renderer(self.store.latest), metrics.process())
        self.store.subscribe(exposition.changed)
        self._web = WebServer(self._listen_address, exposition, web_config)
        self._web.start()
        self._jobs.schedule(self._runners, self.config)
        self._jobs.start()
        threading.Thread(target=self._watch_runs, name="watchdog", daemon=True).start()
        self._log.info(
            "daemon_started",
            version=__version__,
            url=f"{self._web.url}/metrics",
            targets=[
                {"name": r.name, "dsn": db.redact(r.target.dsn), "source": r.target.dsn_source}
                for r in self._runners.values()
            ],
        )

    def _effective_web_config(self) -> WebConfig:
        """--web.config.file, else the config's web.tls; both at once is refused at start."""
        tls = self.config.web.tls
        if self._web_config is not None:
            return self._web_config
        return WebConfig(tls=ServerTls(tls.cert_file, tls.key_file) if tls is not None else None)

    def _watch_runs(self) -> None:
        while not self._stopped.wait(_WATCHDOG_POLL_SECONDS):
            for runner in list(self._runners.values()):
                runner.watchdog()

    def request_stop(self, exit_code: int = ExitCode.OK, *, from_signal: bool = False) -> None:
        """Ask :meth:`serve` to stop. A signal handler only sets the flag (taking a lock
        there could deadlock with the interrupted main thread); serve() polls for it."""
        self._exit_code = exit_code
        self._stop_requested = True
        if not from_signal:
            self._wake.set()

    def request_reload(self, *, from_signal: bool = False) -> None:
        self._reload_requested = True
        if not from_signal:
            self._wake.set()

    def request_status(self) -> None:
        """SIGUSR1 or SIGUSR2: log where every target stands (serve() does it)."""
        self._status_requested = True

    def _log_status(self) -> None:
        self._status_requested = False
        self._log.info(
            "status",
            targets=[
                {
                    "name": t.name,
                    "up": t.up,
                    "drift_ok": t.drift_check.ok,
                    "findings": len(t.drift.findings) if t.drift else None,
                    "error": t.drift_check.error or t.stats_check.error,
                }
                for t in self.store.latest().targets
            ],
        )

    def serve(self) -> int:
        """Wait for stop or reload requests until stopped; returns the exit code.

        A reload reads files in a thread of its own: however long a spec takes to
        load (or however it hangs), this loop keeps answering SIGTERM and SIGINT.
        """
        heap = fleet.Heap(time.monotonic())
        while not self._stop_requested:
            self._wake.wait(_SIGNAL_POLL_SECONDS)
            self._wake.clear()
            if self._stop_requested:
                break
            heap.tick(time.monotonic())
            self._clock.now()  # a step of the wall clock is seen here within a poll
            while self._steps:
                self._jobs.follow_step(self._steps.pop())
            if self._targets_file.changed(self.config.targets_file):  # no SIGHUP needed
                self._reload_requested = True
            if self._status_requested:
                self._log_status()
            if self._reloading is not None and not self._reloading.is_alive():
                self._reloading = None
                self._apply_reload()
            if self._reload_requested and self._reloading is None:
                self._reload_requested = False
                self._reloading = threading.Thread(
                    target=self._load_for_reload, name="reload", daemon=True
                )
                self._reloading.start()
        self.stop()
        return self._exit_code

    def _load_for_reload(self) -> None:
        try:
            self._loaded = load(self.config.path, self._shard)
        except MonitorError as exc:
            self._loaded = str(exc)
        except Exception as exc:  # a reload must never take the daemon down
            self._loaded = f"{self.config.path}: cannot load: {type(exc).__name__}: {exc}"
        self._wake.set()

    def _apply_reload(self) -> bool:
        loaded, self._loaded = self._loaded, None
        if loaded is None or isinstance(loaded, str):
            self._log.error("config_reload_failed", error=loaded or "the reload did not finish")
            self.store.update(lambda r: replace(r, config_reload_success=False))
            return False
        config, specs = loaded
        restart_only = ("web", "max_concurrent_checks")
        if any(getattr(config, key) != getattr(self.config, key) for key in restart_only):
            reason = "web settings and max_concurrent_checks take effect at the next restart"
            self._log.warning("config_reload_partial", reason=reason)
        self._install(config, specs)
        self._jobs.schedule(self._runners, self.config)
        now = self._clock.now()
        self.store.update(
            lambda r: replace(r, config_reload_success=True, config_last_reload_success=now)
        )
        self._log.info("config_reloaded", targets=[t.name for t in config.targets])
        return True

    def stop(self) -> None:
        self._stopped.set()
        for runner in self._runners.values():
            runner.stop()
        self._jobs.shutdown()
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for runner in self._runners.values():
            runner.close(timeout=max(0.0, deadline - time.monotonic()))
        if self._web is not None:
            self._web.stop()
        self._log.info("daemon_stopped")

    def _wall_clock_stepped(self, step: float, wall: datetime) -> None:
        self._log.warning("wall_clock_stepped", step_seconds=round(step, 3), wall=wall.isoformat())
        self._steps.append(step)
        self._wake.set()

    def _window_ended(self, _target: str) -> None:
        if self.config.watch_window.after == "exit" and all(
            r.window_ended for r in self._runners.values()
        ):
            self.request_stop(ExitCode.OK)


def run_once(daemon: Daemon) -> int:
    """One drift and one stats run per target: 0 clean, 1 drift, 2 a check failed."""
    runners = daemon.runners.values()
    try:
        for runner in runners:
            runner.run_drift()
            runner.run_stats()
    finally:
        for runner in runners:
            runner.close()
    targets = daemon.store.latest().targets
    if not all(t.up and t.drift_check.ok and t.stats_check.ok for t in targets):
        return ExitCode.ERROR
    drifting = any(
        f.severity in _FAILING for t in targets if t.drift is not None for f in t.drift.findings
    )
    return ExitCode.DRIFT if drifting else ExitCode.OK


def load(
    config_path: Path, shard: fleet.Shard | None = None
) -> tuple[config_module.Config, dict[str, State]]:
    """The config and the spec of every target of this shard (`shard`, else the config's),
    all problems of both reported at once."""
    config = config_module.load(config_path)
    shard = shard or config.shard
    if shard is not None:
        mine = tuple(t for t in config.targets if shard.owns(t.name))
        config = replace(config, targets=mine, shard=shard)
    return config, config_module.load_specs(config)


def run(
    config_path: Path,
    listen_address: str | None,
    validate_only: bool,
    once: bool,
    *,
    web_config_file: Path | None = None,
    clock: Clock = SYSTEM_CLOCK,
    shard: str | None = None,
    log_level: str | None = None,
) -> int:
    """`schema-monitor run`. Errors in the config or specs raise InputError (exit 2)."""
    chosen_shard = fleet.parse_shard(shard) if shard is not None else None
    if shard is not None and chosen_shard is None:
        raise MonitorError(f"--shard: {shard!r} is not I/N with 0 <= I < N (e.g. 0/3)")
    config, specs = load(config_path, chosen_shard)  # --log.level: argparse's choices
    if listen_address is not None and config_module.parse_listen_address(listen_address) is None:
        raise MonitorError(f"--web.listen-address: {listen_address!r} is not HOST:PORT")
    web_config = webconfig.load(web_config_file) if web_config_file is not None else None
    if web_config is not None and web_config.tls is not None and config.web.tls is not None:
        raise MonitorError(
            f"TLS is configured twice: in {web_config_file} and in {config_path} (web.tls)"
        )
    if validate_only:
        of_shard = f" of shard {config.shard}" if config.shard is not None else ""
        print(f"{config_path}: ok ({len(config.targets)} targets{of_shard})")
        return ExitCode.OK
    log_module.configure(config.log_format, level=log_level or config.log_level)
    state_dir.prepare(config.state_dir)
    options: dict[str, Any] = {"web_config": web_config, "clock": clock, "shard": chosen_shard}
    if once:  # reads the window files but never starts a window nor writes one
        return run_once(Daemon(config, specs, keep_state=False, **options))
    with state_dir.held(config.state_dir):
        daemon = Daemon(config, specs, listen_address=listen_address, **options)
        _install_signal_handlers(daemon)  # before start: a SIGHUP must never kill the process
        daemon.start()
        return daemon.serve()


def _install_signal_handlers(daemon: Daemon) -> None:
    if threading.current_thread() is not threading.main_thread():
        return  # embedded in a test or another program: it calls request_stop/reload itself
    signal.signal(signal.SIGTERM, lambda _s, _f: daemon.request_stop(from_signal=True))
    signal.signal(signal.SIGINT, lambda _s, _f: daemon.request_stop(from_signal=True))
    signal.signal(signal.SIGHUP, lambda _s, _f: daemon.request_reload(from_signal=True))
    # Default-fatal signals a person may send to ask for something: the state, in the log.
    # The rest (SIGQUIT, SIGALRM, SIGPROF...) keep their defaults (docs/deploy.md).
    for number in (signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(number, lambda _s, _f: daemon.request_status())
