"""What the service holds in memory: per configured universe, its dataset (bars, panels, feature
table) and the champion. Built once at start and again on /reload; never per request.

Framework-free (no BentoML here) so it is testable and reusable. Settings come from the
environment, the way a server process receives them, and are read once (ServerSettings):
  SECTOR_HEATMAP_CONFIG   YAML with features/training/serving sections (optional)
  SECTOR_HEATMAP_SOURCE   data source spec (default "auto")
  SECTOR_HEATMAP_STORE    model store folder (default: the YAML's training.store_dir, i.e. mlruns)
  SECTOR_HEATMAP_API_KEY  when set, the API requires header X-API-KEY (serving/auth.py)
  SECTOR_HEATMAP_SERVE_PID  set by `sector-heatmap serve`: the pid of the BentoML arbiter (see abandon_start)
  SECTOR_HEATMAP_TEST_SEAM  end-to-end tests only: a fake clock and yfinance (serving/live.py); never in production

A configured universe that cannot be loaded (bad data, unknown name) does not stop the others: the
service serves what loaded and reports the rest (`ServingState.failed`, answered with a 503 naming the
reason). Only when nothing loads does start-up fail, and then it stops the whole server (never a
worker restart loop); `sector-heatmap serve` checks the same thing before it starts (`check_start`).

Memory: every load runs on one dedicated thread (`StateLoader`) and the old state's memory is handed
back to the OS after a swap (`release_memory`); see StateLoader for why.
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING

from features.config import FeatureConfig
from features.dataset import MarketDataset
from features.errors import ConfigError, RequestError, SectorHeatmapError
from features.registry import require_columns
from features.settings import ConfigFile
from features.sources.data_source import DataSource
from features.universe import load_universe
from serving.auth import API_KEY_ENV, check_api_key
from serving.config import ServingConfig
from training.config import TrainConfig

if TYPE_CHECKING:
    from serving.intraday import IntradayView

CONFIG_ENV = "SECTOR_HEATMAP_CONFIG"
SOURCE_ENV = "SECTOR_HEATMAP_SOURCE"
SERVE_PID_ENV = "SECTOR_HEATMAP_SERVE_PID"
TEST_SEAM_ENV = "SECTOR_HEATMAP_TEST_SEAM"  # tests only: FILE.py:FACTORY giving a fake clock and yfinance
DEFAULT_SOURCE = "auto"
LOCAL_SOURCES = ("csv", "demo")  # kinds `sector-heatmap serve` loads in full before it starts the server
STARTUP_FAILURE_EXIT = 3  # a worker that gives up starting exits with this (uvicorn's own code for it)

log = logging.getLogger("sector_heatmap.serving")


@dataclass(frozen=True)
class ServerSettings:
    """Every setting the service (or `sector-heatmap heatmap`) uses, read and validated once."""

    cfg: ServingConfig
    feature_cfg: FeatureConfig
    train_cfg: TrainConfig  # where the model store is (store_dir, experiment)
    source: DataSource
    api_key: str | None = field(default=None, repr=False)
    test_seam: str | None = None  # TEST_SEAM_ENV: a fake clock and yfinance for end-to-end tests (serving/live.py)

    @property
    def store_dir(self) -> str:
        return self.train_cfg.store_dir

    @classmethod
    def from_file(
        cls,
        config: ConfigFile,
        source: str | DataSource = DEFAULT_SOURCE,
        store_dir: str | None = None,
        api_key: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> ServerSettings:
        """`store_dir` overrides the store that TrainConfig takes from the YAML and STORE_ENV (in `environ`)."""
        fcfg = FeatureConfig.from_mapping(config.section("features"))
        tcfg = TrainConfig.from_mapping(config.section("training"), environ)
        check_api_key(api_key)  # a key no client could send is a settings error, found with the others
        if store_dir:
            tcfg = replace(tcfg, store_dir=store_dir)
        return cls(
            ServingConfig.from_mapping(config.section("serving")),
            fcfg,
            tcfg,
            DataSource.parse(source, fcfg.demo),
            api_key,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServerSettings:
        env = os.environ if environ is None else environ
        settings = cls.from_file(
            ConfigFile.read(env.get(CONFIG_ENV) or None),
            env.get(SOURCE_ENV) or DEFAULT_SOURCE,
            api_key=env.get(API_KEY_ENV) or None,
            environ=env,
        )
        return replace(settings, test_seam=env.get(TEST_SEAM_ENV) or None)


@dataclass
class UniverseState:
    dataset: MarketDataset
    champion: object | None  # training.registry.ChampionModel
    model_status: str
    intraday: IntradayView | None = None  # today's partial move, descriptive only (serving/intraday.py)

    # cached: both are part of every cache key, looked up on every request
    @cached_property
    def model_version(self) -> str:
        if self.champion is None:
            return "none"
        card = self.champion.card or {}  # type: ignore[attr-defined]
        return f"{card.get('name')}/v{card.get('version')}/{card.get('run_id')}"

    @cached_property
    def data_version(self) -> str:
        return self.dataset.version

    def summary(self) -> dict:
        ds = self.dataset
        return {
            "universe": ds.universe.name,
            "data_source": ds.source.label,
            "is_demo": ds.source.synthetic,
            "data_through": None if ds.data_through is None else ds.data_through.date().isoformat(),
            "notes": list(ds.notes),
            "model_status": self.model_status,
            "model_version": None if self.champion is None else str((self.champion.card or {}).get("version")),  # type: ignore[attr-defined]
        }


class UniverseUnavailable(RequestError):
    """A request for a configured universe that could not be loaded: nothing wrong with the request, the server
    cannot answer it (HTTP 503, `http_status`); the message names the universe and why."""

    http_status = 503


@dataclass(frozen=True)
class UniverseFailure:
    """A configured universe that could not be loaded. Only the message is kept, never the exception: its
    traceback would keep the failed load's frames (and the data they held) alive."""

    name: str  # as configured
    reason: str  # the error's message (names the universe, the source and e.g. the file)
    source: DataSource  # the source that was asked for
    universe: str | None = None  # the universe's own name, when its definition at least could be read

    def summary(self) -> dict:
        """Same shape as UniverseState.summary (schemas.UniverseSummary): data_through null, the reason as a note."""
        return {
            "universe": self.universe or self.name,
            "data_source": self.source.label,
            "is_demo": self.source.synthetic,
            "data_through": None,
            "notes": [f"NOT LOADED: {self.reason}"],
            "model_status": "unavailable: the universe could not be loaded",
            "model_version": None,
        }


@dataclass
class ServingState:
    universes: dict[str, UniverseState]  # configured name -> state, the universes that loaded
    generation: int  # bumped by every load: part of every cache key
    seconds: float
    failed: dict[str, UniverseFailure] = field(default_factory=dict)  # configured name -> why it did not load

    def resolve(self, name: str) -> tuple[str, UniverseState]:
        """The universe a request names (its configured name or the loaded universe's own name)."""
        if name in self.universes:
            return name, self.universes[name]
        for key, u in self.universes.items():
            if u.dataset.universe.name == name:
                return key, u
        for key, f in self.failed.items():
            if name in (key, f.universe):
                raise UniverseUnavailable(f"universe: {name!r} is not available: {f.reason}")
        raise RequestError(f"universe: unknown {name!r}; this server serves {', '.join(self.universes)}")

    def summaries(self) -> dict[str, dict]:
        """Every configured universe: those that loaded, then those that did not (with why, in `notes`)."""
        both: dict[str, UniverseState | UniverseFailure] = {**self.universes, **self.failed}
        return {k: both[k].summary() for k in both}

    def lost(self, before: ServingState) -> list[str]:
        """Universes `before` served that this state failed to load (a reload must not drop them)."""
        return [name for name in self.failed if name in before.universes]


def check_serving_columns(cfg: ServingConfig, ds: MarketDataset) -> None:
    """Every window and feature column the serving config reads exists: a ConfigError naming it, at start-up."""
    from serving.columns import feature_inputs

    missing = [w for w in cfg.spread_windows if w not in ds.config.return_windows]
    if missing:
        raise ConfigError(
            f"serving config uses window(s) {', '.join(missing)} that features.return_windows lacks "
            f"(it has {', '.join(ds.config.return_windows)})"
        )
    from serving.heatmap import DERIVED_INPUTS

    health = [
        c
        for cols in cfg.health_components.values()
        for c in cols
        if c not in DERIVED_INPUTS and not c.startswith("spread_")
    ]
    require_columns([*health, *feature_inputs(cfg)], ds.features.columns, "the serving config")


def model_fits(champion, ds: MarketDataset) -> str | None:
    """Why the champion cannot score this dataset's features (a missing column), or None when it can."""
    try:
        require_columns(champion.forecaster.feature_names, ds.features.columns, "the champion model")
    except ConfigError as exc:
        return f"unavailable: {exc}"
    return None


def load_universe_data(name: str, settings: ServerSettings) -> MarketDataset:
    """The part of loading a universe that can fail on the user's data or settings: the dataset, and the
    feature columns the serving config reads (the champion never fails a load, see load_universe_state)."""
    ds = MarketDataset.load(settings.source, name, settings.feature_cfg)
    check_serving_columns(settings.cfg, ds)
    return ds


def load_universe_state(name: str, settings: ServerSettings, dataset: MarketDataset | None = None) -> UniverseState:
    """Dataset and champion of one universe (the service and `sector-heatmap heatmap` share it); a `dataset`
    already loaded (the live path, serving/live.py) gets its champion here."""
    from training.registry import load_champion

    ds = load_universe_data(name, settings) if dataset is None else dataset
    # never raises: a missing or broken store comes back as (None, why), i.e. descriptive only
    champion, status = load_champion(ds.universe.name, ds.source, settings.store_dir, settings.train_cfg.experiment)
    if champion is not None and (why := model_fits(champion, ds)) is not None:
        log.warning("universe %s: %s", name, why)
        champion, status = None, why
    return UniverseState(ds, champion, status)


def _load_each(settings: ServerSettings, load_one: Callable[[str, ServerSettings], object]) -> tuple[dict, dict]:
    """({name: loaded}, {name: UniverseFailure}) over the configured universes. When none loads, the first
    error is raised (its type and report kept) with every universe's reason in its message."""
    loaded: dict = {}
    failed: dict[str, UniverseFailure] = {}
    first: SectorHeatmapError | None = None
    for name in settings.cfg.universes:
        try:
            loaded[name] = load_one(name, settings)
        except SectorHeatmapError as exc:  # the user's to fix: one line naming the universe, no traceback
            reason = f"universe {name!r} from source {settings.source.label!r}: {exc}"
            failed[name] = UniverseFailure(name, reason, settings.source, _own_name(name))
            first = first or exc  # (only until the next universe loads or this raises)
    if not loaded:
        assert first is not None
        reasons = "; ".join(f.reason for f in failed.values())
        first.args = (reasons if len(failed) == 1 else f"no configured universe could be loaded: {reasons}",)
        first.__traceback__ = None
        raise first
    return loaded, failed


def _own_name(configured: str) -> str | None:
    """The name inside a universe's definition (a request may use it), or None when that cannot be read."""
    try:
        return load_universe(configured).name
    except SectorHeatmapError:
        return None


def load_state(settings: ServerSettings, generation: int = 1) -> ServingState:
    """Load every configured universe. One that cannot be loaded is reported (`failed`, a log line naming it)
    and the others are served; when none can be, the error names each (see _load_each)."""
    t0 = time.perf_counter()
    out, failed = _load_each(settings, load_universe_state)
    for name, failure in failed.items():  # one line each, no traceback: the user's to fix
        log.error("universe %s NOT LOADED, not served: %s", name, failure.reason)
    for name, u in out.items():
        s = u.summary()
        log.info(
            "universe %s: data %s through %s; model: %s", name, s["data_source"], s["data_through"], s["model_status"]
        )
        for note in s["notes"]:
            log.warning("universe %s: %s", name, note)
        if s["is_demo"]:
            log.warning("universe %s: serving the DEMO market (synthetic), not real prices", name)
    return ServingState(out, generation, time.perf_counter() - t0, failed)


def check_start(settings: ServerSettings) -> dict[str, UniverseFailure]:
    """What `sector-heatmap serve` checks before it starts the server, so that a server that could serve
    nothing is one clear error and a non-zero exit instead of a BentoML worker that fails and is restarted.

    Local sources (csv, demo) are loaded as the service will (data, validation, the feature columns the
    serving config reads; not the champion, which never fails a load); network sources only as far as the
    universe definitions, so a start never downloads twice (the service itself stops the server when nothing
    loads, see abandon_start). Returns the universes that will not be served; raises when none would be.
    """
    if settings.source.kind in LOCAL_SOURCES:
        _, failed = _load_each(settings, load_universe_data)
    else:
        _, failed = _load_each(settings, lambda name, _: load_universe(name))
    return failed


# ---- a worker that cannot start ---------------------------------------------------------------------
def abandon_start(
    exc: BaseException,
    environ: Mapping[str, str] | None = None,
    kill: Callable[[int, int], None] = os.kill,
    exit_now: Callable[[int], None] = os._exit,
) -> None:
    """Start-up of the service failed in a worker of `sector-heatmap serve`: stop the whole server.

    Why: BentoML runs the worker under a circus watcher that respawns a dead worker (every ~10 s, whatever
    its exit code: bentoml.serving.create_watcher sets respawn=True outside containers), so an exception in
    __init__ is retried forever while the port never answers. `sector-heatmap serve` records the pid it execs
    `bentoml serve` in (SERVE_PID_ENV): that process is the circus arbiter and this worker's parent. SIGTERM
    makes it stop its watchers and exit; the worker logs why in one line (a traceback only for a bug) and
    exits at once, without the lifespan's own traceback. Anywhere else (tests, a plain `bentoml serve`)
    this does nothing and the caller re-raises.
    """
    env = os.environ if environ is None else environ
    arbiter = env.get(SERVE_PID_ENV, "")
    if not arbiter.isdigit() or int(arbiter) != os.getppid():
        return
    if isinstance(exc, SectorHeatmapError):
        log.error("cannot start, stopping the server: %s", exc)
    else:
        log.error("cannot start (a bug), stopping the server", exc_info=exc)
    for handler in [*log.handlers, *logging.getLogger().handlers]:
        handler.flush()
    sys.stderr.flush()
    kill(int(arbiter), signal.SIGTERM)
    exit_now(STARTUP_FAILURE_EXIT)


# ---- loading without growing ------------------------------------------------------------------------
class StateLoader:
    """Runs every load of the service's state (at start and on each /reload) on one dedicated thread, and
    gives the replaced state's memory back to the OS after a swap.

    Why: a reload builds the new state while the old one still serves, then drops the old one. Python frees
    it at once (nothing cyclic holds it), but glibc keeps freed memory in its malloc arenas, and threads get
    arenas of their own: the first load ran on the event-loop thread, each reload on whichever thread of
    asyncio's default pool was free, and every arena so used kept about one load's peak. RSS stepped up with
    each new arena and levelled off once the pool's threads had all loaded once (407 -> 659 MB, 1.6x, over
    20 reloads on 2 CPUs; a bigger machine has a bigger default pool). Now one thread does every load (one
    arena, which each load reuses) and malloc_trim(0) after each swap returns the freed pages to the OS:
    408 -> 448 MB at most, flat (bench/serve_bench.py --reload-only). No gc.collect(): it changed nothing
    measurable and a full collection holds the GIL ~0.2 s, stalling the event loop.
    """

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="state-loader")

    def load(self, settings: ServerSettings, generation: int = 1) -> ServingState:
        """Load on the loader thread, waiting for it (start-up)."""
        return self._executor.submit(load_state, settings, generation).result()

    async def load_async(self, settings: ServerSettings, generation: int) -> ServingState:
        """Load on the loader thread without blocking the event loop (/reload)."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, load_state, settings, generation)

    async def release(self) -> None:
        """After a swap, once the caller dropped its references to the old state: trim, on the loader thread
        (a ctypes call releases the GIL; the event loop keeps answering)."""
        await asyncio.get_running_loop().run_in_executor(self._executor, release_memory)

    def run(self, fn: Callable[..., ServingState], *args) -> ServingState:
        """Any other build of a state (the scheduled refresh's), on the loader thread, waiting for it."""
        return self._executor.submit(fn, *args).result()

    def submit(self, fn: Callable[..., object], *args) -> asyncio.Future:
        """The same without blocking the event loop: an awaitable the caller may stop waiting for (a refresh
        past its deadline); the build itself then finishes on the loader thread and is dropped."""
        return asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, or None where the C library has none (musl, macOS)."""
    try:
        fn = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    fn.argtypes, fn.restype = [ctypes.c_size_t], ctypes.c_int
    return fn


def release_memory() -> None:
    """Hand every free page of every malloc arena back to the OS (glibc; elsewhere nothing to do)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
