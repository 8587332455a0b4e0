"""One typed settings object, passed explicitly to whatever needs it (never read from globals).

Paths come from platformdirs, with environment overrides:
- ``TFGNET_HOME``: the user data folder (cases.db, evidence/, candidates/);
- ``TFGNET_MODELS``: the model folder (a model per sub-folder; ``tiny`` falls back to the shipped one);
- ``TFGNET_DATA``: the face data folder (``utkface/``, ``celeba10k/``), by default ``../shared/data``
  beside the repository when present.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

APP_NAME = "tfgnet-desk"
REPO_ROOT = Path(__file__).resolve().parent.parent
SHIPPED_MODELS = REPO_ROOT / "models"

PROFILES = ("tiny", "full")
DEVICES = ("cpu", "cuda", "auto")
IDENTITY_BACKENDS = ("dlib-resnet", "faceres", "arcface")


def _platform_dirs():
    import platformdirs

    return platformdirs.PlatformDirs(APP_NAME, appauthor=False)


def default_home() -> Path:
    env = os.environ.get("TFGNET_HOME")
    return Path(env).expanduser() if env else Path(_platform_dirs().user_data_dir)


def default_models_dir(home: Path | None = None) -> Path:
    """``TFGNET_MODELS``, else ``<home>/models`` (home: the given one, else the default)."""
    env = os.environ.get("TFGNET_MODELS")
    if env:
        return Path(env).expanduser()
    return (home if home is not None else default_home()) / "models"


def default_data_dir() -> Path | None:
    env = os.environ.get("TFGNET_DATA")
    if env:
        return Path(env).expanduser()
    beside = REPO_ROOT.parent / "shared" / "data"
    return beside if beside.is_dir() else None


@dataclass(frozen=True)
class Settings:
    """Everything a run of the app or a CLI needs to know about where things are and how to run."""

    home: Path = field(default_factory=default_home)
    models_dir: Path = None  # type: ignore[assignment]  # None: TFGNET_MODELS, else <home>/models
    data_dir: Path | None = field(default_factory=default_data_dir)
    profile: str = "tiny"
    device: str = "cpu"
    identity_backend: str = "dlib-resnet"
    threads: int = 0  # 0: leave torch's default
    analyst: str = ""  # the analyst's name: each new case's analyst and the actor of every audited action

    def __post_init__(self) -> None:
        object.__setattr__(self, "analyst", " ".join(str(self.analyst or "").split()))
        if self.models_dir is None:
            object.__setattr__(self, "models_dir", default_models_dir(self.home))
        if self.profile not in PROFILES:
            raise ValueError(f"profile must be one of {PROFILES}, not {self.profile!r}")
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {DEVICES}, not {self.device!r}")
        if self.identity_backend not in IDENTITY_BACKENDS:
            raise ValueError(
                f"identity backend must be one of {IDENTITY_BACKENDS}, not {self.identity_backend!r}"
            )

    # Derived paths ---------------------------------------------------------------------------------
    @property
    def cases_db(self) -> Path:
        return self.home / "cases.db"

    @property
    def evidence_dir(self) -> Path:
        return self.home / "evidence"

    @property
    def candidates_dir(self) -> Path:
        return self.home / "candidates"

    @property
    def settings_file(self) -> Path:
        return self.home / "settings.json"

    def model_path(self, name: str | None = None) -> Path:
        """Folder of model ``name`` (default: the profile's). ``tiny`` falls back to the shipped copy."""
        name = name or self.profile
        user = self.models_dir / name
        if user.is_dir():
            return user
        shipped = SHIPPED_MODELS / name
        if shipped.is_dir():
            return shipped
        return user

    def resolved_device(self) -> str:
        if self.device != "auto":
            return self.device
        try:
            import torch

            return "cuda" if torch.cuda.is_available() else "cpu"
        except ImportError:  # pragma: no cover - torch is a dependency
            return "cpu"

    # Persistence -----------------------------------------------------------------------------------
    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        for k, v in out.items():
            if isinstance(v, Path):
                out[k] = str(v)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Settings:
        known = {f.name for f in fields(cls)}
        kwargs: dict[str, Any] = {}
        for k, v in data.items():
            if k not in known:
                continue
            if k in ("home", "models_dir", "data_dir") and v is not None:
                v = Path(v)
            kwargs[k] = v
        return cls(**kwargs)

    def save(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        tmp = self.settings_file.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2))
        tmp.replace(self.settings_file)

    @classmethod
    def load(cls, home: Path | None = None) -> Settings:
        """Defaults, then the saved settings file in ``home``; environment overrides win over the file."""
        base = cls() if home is None else cls(home=home)
        path = base.settings_file
        if not path.is_file():
            return base
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            return base
        overrides = (("TFGNET_HOME", "home"), ("TFGNET_MODELS", "models_dir"), ("TFGNET_DATA", "data_dir"))
        for env, key in overrides:
            if os.environ.get(env):
                data.pop(key, None)
        data.setdefault("home", str(base.home))
        try:
            return cls.from_json({**base.to_json(), **data})
        except (TypeError, ValueError):
            return base
