"""What the service holds in memory: per configured universe, its dataset (bars, panels, feature
table) and the champion. Built once at start and again on /reload; never per request.

Framework-free (no BentoML here) so it is testable and reusable. Settings come from the
environment, the way a server process receives them, and are read once (ServerSettings):
  SECTOR_HEATMAP_CONFIG   YAML with features/training/serving sections (optional)
  SECTOR_HEATMAP_SOURCE   data source spec (default "auto")
  SECTOR_HEATMAP_STORE    model store folder (default: the YAML's training.store_dir, i.e. mlruns)
  SECTOR_HEATMAP_API_KEY  when set, the API requires header X-API-KEY (serving/auth.py)
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property

from features.config import FeatureConfig
from features.dataset import MarketDataset
from features.errors import ConfigError, RequestError, SectorHeatmapError
from features.registry import require_columns
from features.settings import ConfigFile
from features.sources.data_source import DataSource
from serving.auth import API_KEY_ENV
from serving.config import ServingConfig
from training.config import TrainConfig

CONFIG_ENV = "SECTOR_HEATMAP_CONFIG"
SOURCE_ENV = "SECTOR_HEATMAP_SOURCE"
STORE_ENV = "SECTOR_HEATMAP_STORE"
DEFAULT_SOURCE = "auto"

log = logging.getLogger("sector_heatmap.serving")


@dataclass(frozen=True)
class ServerSettings:
    """Every setting the service (or `sector-heatmap heatmap`) uses, read and validated once."""

    cfg: ServingConfig
    feature_cfg: FeatureConfig
    train_cfg: TrainConfig  # where the model store is (store_dir, experiment)
    source: DataSource
    api_key: str | None = field(default=None, repr=False)

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
    ) -> ServerSettings:
        fcfg = FeatureConfig.from_mapping(config.section("features"))
        tcfg = TrainConfig.from_mapping(config.section("training"))
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
        return cls.from_file(
            ConfigFile.read(env.get(CONFIG_ENV) or None),
            env.get(SOURCE_ENV) or DEFAULT_SOURCE,
            env.get(STORE_ENV) or None,
            env.get(API_KEY_ENV) or None,
        )


@dataclass
class UniverseState:
    dataset: MarketDataset
    champion: object | None  # training.registry.ChampionModel
    model_status: str

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


@dataclass
class ServingState:
    universes: dict[str, UniverseState]  # configured name -> state
    generation: int  # bumped by every load: part of every cache key
    seconds: float

    def resolve(self, name: str) -> tuple[str, UniverseState]:
        """The universe a request names (its configured name or the loaded universe's own name)."""
        if name in self.universes:
            return name, self.universes[name]
        for key, u in self.universes.items():
            if u.dataset.universe.name == name:
                return key, u
        raise RequestError(f"universe: unknown {name!r}; this server serves {', '.join(self.universes)}")


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


def load_universe_state(name: str, settings: ServerSettings) -> UniverseState:
    """Dataset and champion of one universe (the service and `sector-heatmap heatmap` share it)."""
    from training.registry import load_champion

    ds = MarketDataset.load(settings.source, name, settings.feature_cfg)
    check_serving_columns(settings.cfg, ds)
    # never raises: a missing or broken store comes back as (None, why), i.e. descriptive only
    champion, status = load_champion(ds.universe.name, ds.source, settings.store_dir, settings.train_cfg.experiment)
    if champion is not None and (why := model_fits(champion, ds)) is not None:
        log.warning("universe %s: %s", name, why)
        champion, status = None, why
    return UniverseState(ds, champion, status)


def load_state(settings: ServerSettings, generation: int = 1) -> ServingState:
    """Load every configured universe; a universe that cannot be loaded is an error naming it."""
    t0 = time.perf_counter()
    out = {}
    for name in settings.cfg.universes:
        try:
            out[name] = u = load_universe_state(name, settings)
        except SectorHeatmapError as exc:  # say which universe, keep the error's type (and its report)
            exc.args = (f"universe {name!r} from source {settings.source.label!r}: {exc}",)
            raise
        s = u.summary()
        log.info(
            "universe %s: data %s through %s; model: %s", name, s["data_source"], s["data_through"], s["model_status"]
        )
        for note in s["notes"]:
            log.warning("universe %s: %s", name, note)
        if s["is_demo"]:
            log.warning("universe %s: serving the DEMO market (synthetic), not real prices", name)
    return ServingState(out, generation, time.perf_counter() - t0)
