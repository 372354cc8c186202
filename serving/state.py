"""What the service holds in memory: per configured universe, the market, its feature table and
the champion. Built once at start and again on /reload; never per request.

Framework-free (no BentoML here) so it is testable and reusable. Settings come from the
environment, the way a server process receives them:
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
from dataclasses import dataclass, field
from functools import cached_property

from serving.auth import API_KEY_ENV
from serving.config import ServingConfig

CONFIG_ENV = "SECTOR_HEATMAP_CONFIG"
SOURCE_ENV = "SECTOR_HEATMAP_SOURCE"
STORE_ENV = "SECTOR_HEATMAP_STORE"
DEFAULT_SOURCE = "auto"

log = logging.getLogger("sector_heatmap.serving")


@dataclass(frozen=True)
class ServerSettings:
    cfg: ServingConfig
    feature_cfg: object  # features.config.FeatureConfig
    source: str
    store_dir: str
    api_key: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "ServerSettings":
        from features.config import FeatureConfig
        from features.settings import read_section

        env = os.environ if environ is None else environ
        path = env.get(CONFIG_ENV) or None
        return cls(
            cfg=ServingConfig.from_mapping(read_section(path, "serving")),
            feature_cfg=FeatureConfig.from_mapping(read_section(path, "features")),
            source=env.get(SOURCE_ENV) or DEFAULT_SOURCE,
            store_dir=model_store_dir(path, env),
            api_key=env.get(API_KEY_ENV) or None,
        )


def model_store_dir(config_path: str | None, environ: Mapping[str, str] | None = None) -> str:
    """SECTOR_HEATMAP_STORE if set, else the config's training.store_dir (default mlruns)."""
    from features.settings import read_section
    from training.config import TrainConfig

    env = os.environ if environ is None else environ
    return env.get(STORE_ENV) or TrainConfig.from_mapping(read_section(config_path, "training")).store_dir


@dataclass
class UniverseState:
    loaded: object  # features.pipeline.LoadedMarket
    table: object  # the feature table (pandas DataFrame indexed by date, sector)
    champion: object | None  # training.registry.ChampionModel
    model_status: str

    # cached: both are part of every cache key, looked up on every request
    @cached_property
    def model_version(self) -> str:
        if self.champion is None:
            return "none"
        card = self.champion.card or {}
        return f"{card.get('name')}/v{card.get('version')}/{card.get('run_id')}"

    @cached_property
    def data_version(self) -> str:
        m = self.loaded.market
        return f"{m.source}@{m.data_through}"

    def summary(self) -> dict:
        m = self.loaded.market
        return {
            "universe": self.loaded.universe.name,
            "data_source": m.source,
            "is_demo": m.is_demo,
            "data_through": None if m.data_through is None else m.data_through.date().isoformat(),
            "notes": list(m.notes),
            "model_status": self.model_status,
            "model_version": None if self.champion is None else str((self.champion.card or {}).get("version")),
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
            if u.loaded.universe.name == name:
                return key, u
        raise ValueError(f"universe: unknown {name!r}; this server serves {', '.join(self.universes)}")


def load_universe_state(name: str, settings: ServerSettings) -> UniverseState:
    """Market, feature table and champion of one universe (the service and `sector-heatmap heatmap` share it)."""
    from features.pipeline import load_panels
    from features.table import build_feature_table
    from training.registry import load_champion

    loaded = load_panels(settings.source, name, settings.feature_cfg)
    table = build_feature_table(loaded.panels, settings.feature_cfg)
    # never raises: a missing or broken store comes back as (None, why), i.e. descriptive only
    champion, status = load_champion(loaded.universe.name, loaded.market.is_demo, settings.store_dir)
    return UniverseState(loaded, table, champion, status)


def load_state(settings: ServerSettings, generation: int = 1) -> ServingState:
    """Load every configured universe; a universe that cannot be loaded is an error naming it."""
    t0 = time.perf_counter()
    out = {}
    for name in settings.cfg.universes:
        try:
            out[name] = u = load_universe_state(name, settings)
        except Exception as exc:
            raise RuntimeError(f"universe {name!r} from source {settings.source!r}: {exc}") from exc
        s = u.summary()
        log.info("universe %s: data %s through %s; model: %s", name, s["data_source"], s["data_through"], s["model_status"])
        for note in s["notes"]:
            log.warning("universe %s: %s", name, note)
        if s["is_demo"]:
            log.warning("universe %s: serving the DEMO market (synthetic), not real prices", name)
    return ServingState(out, generation, time.perf_counter() - t0)
