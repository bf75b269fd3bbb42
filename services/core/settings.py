"""The one settings object: every knob comes from a ``FACETAG_*`` environment variable."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.core.cpu_share import threads_per_process


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "facetag"


def _default_model_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "facetag" / "models"


class Settings(BaseSettings):
    """Service configuration. Empty store URLs mean "embedded, under ``data_dir``"."""

    model_config = SettingsConfigDict(env_prefix="FACETAG_", extra="ignore")

    data_dir: Path = Field(default_factory=_default_data_dir, description="Folder for all embedded data.")
    catalog_url: str = Field("", description="mongodb://... or sqlite:///path; empty = SQLite in data_dir.")
    blob_url: str = Field("", description="s3://key:secret@host:port/bucket or file:///path; empty = data_dir/blobs.")
    broker_url: str = Field("", description="redis://... or empty for the embedded file broker in data_dir.")
    model_cache: Path = Field(default_factory=_default_model_cache, description="Converted ONNX models.")

    # Face analysis
    detector: Literal["centerface", "yunet", "hog", "haar"] = "centerface"
    detect_recheck: bool = Field(True, description="CenterFace: look again, on enlarged crops, at faces it is "
                                 "unsure of (on the group photos: 2.3 points more recall for about 15% more time).")
    upsample: int = Field(1, ge=0, le=3, description="HOG upsampling passes: 1 finds faces down to ~40 px.")
    max_detect_side: int = Field(1600, ge=200, le=8192, description="Images are scaled down to this side for "
                                 "detection (memory grows with it: about 1 GB at 1600, 3.7 GB at 4096).")
    descriptor: Literal["sface", "dlib", "mbf"] = Field("sface", description="Descriptor network.")
    descriptor_flip: bool = Field(False, description="Average each face's descriptor with its mirror image's.")
    descriptor_precision: Literal["fp32", "int8"] = Field(
        "fp32", description="Descriptor backbone arithmetic: int8 runs a quantized copy derived at set-up, offered "
        "where its descriptors match fp32's (dlib; bench/quantized.py). A trained model keeps the backbone it was "
        "trained with until the next training.")
    accept_model_licence: str = Field("", description="Comma-separated networks whose restrictive weight licence "
                                      "you accept (mbf: non-commercial research only).")
    min_face_quality: float = Field(0.1, ge=0.0, le=1.0, description="Faces below this quality are never named "
                                    "by a model nor used for training.")
    execution_provider: Literal["auto", "cpu", "cuda"] = "auto"
    onnx_threads: int = Field(0, ge=0, description="Intra-op threads per ONNX session; 0 = this process's share "
                              "of the cores: those it may use (CPU affinity, cgroup CPU limit) / worker_processes.")
    worker_processes: int = Field(1, ge=1, description="Processes running ONNX Runtime that share this machine's "
                                  "cores (facetag serve sets it); N replicas on N cores take one thread each.")

    # Uploads
    max_upload_bytes: int = Field(25 * 1024 * 1024, ge=1024)
    max_json_bytes: int = Field(1024 * 1024, ge=1024, description="Largest request body other than a photo.")
    max_pixels: int = Field(60_000_000, ge=10_000, description="Reject images above this pixel count.")
    thumbnail_side: int = Field(320, ge=64)

    # Delivery
    task_max_retries: int = Field(5, ge=0)
    task_retry_backoff: float = Field(2.0, ge=0.0, description="Seconds before the first retry; doubles.")
    visibility_timeout: int = Field(
        15, ge=1, description="Seconds after which a task whose worker stopped renewing its lease (it died) is "
        "handed to another worker; a live worker renews every fifth of this, however long the task runs.")
    orphan_sweep_minutes: float = Field(10.0, gt=0, description="Minutes between sweeps for blobs of deleted "
                                        "photos and faces (one is removed once two sweeps found it orphaned).")
    stalled_after: int = Field(
        600, ge=5, description="Seconds after which an unfinished image is queued again by the reconciler."
    )

    # Gateway
    host: str = "127.0.0.1"
    port: int = 8000
    admin_keys: str = Field("", description="Comma-separated keys that act as admin-scope API tokens (for scripts).")
    public_url: str = Field("", description="The address people use, e.g. https://photos.example.org: its host "
                            "is trusted, and https makes the session cookie Secure.")
    trusted_hosts: str = Field("", description="Comma-separated Host names the gateway answers (besides localhost "
                               "and the public URL's); '*' answers any. Other hosts get 400.")
    cors_origins: str = Field("", description="Comma-separated origins allowed to call the API from a browser; "
                              "empty = none.")
    session_hours: int = Field(24 * 14, ge=1, le=24 * 365, description="How long a sign-in lasts.")
    login_max_failures: int = Field(5, ge=1, description="Failed sign-ins to one account before it is locked.")
    login_max_failures_per_client: int = Field(20, ge=1, description="Failed sign-ins from one address before "
                                               "it is locked.")
    login_lockout_minutes: int = Field(15, ge=1, description="How long a lock lasts.")
    api_token: str = Field("", description="The API token commands such as facetag import send to the server.")

    # Metrics and worker health (services/core/metrics.py, worker_health.py)
    metrics_port: int = Field(9100, ge=0, le=65535, description="Port of a worker's /metrics, /livez and /readyz; "
                              "0 = none (facetag serve's workers: the gateway's /metrics shows theirs).")
    metrics_token: SecretStr = Field(SecretStr(""), description="Bearer token that may read /metrics (gateway and "
                                     "workers) besides admins; empty = admins only, and no worker's /metrics.")

    # Webhooks, upload callbacks and MQTT (services/gateway/live_outputs/)
    webhook_retry_delays: str = Field("10,30,120,600,3600", pattern=r"^\s*\d+(\.\d+)?(\s*,\s*\d+(\.\d+)?)*\s*$",
                                      description="Seconds before each retry of a failed webhook delivery, "
                                      "comma-separated; after the last one it is given up (failed).")
    webhook_timeout: float = Field(5.0, gt=0, le=60, description="Seconds a receiver has to answer a delivery.")
    callback_allow_private: bool = Field(False, description="Let an upload's callback_url reach loopback, private "
                                         "and link-local addresses (admins' webhooks always may).")
    mqtt_url: SecretStr = Field(SecretStr(""), description="mqtt://user:password@host:1883 (mqtts:// for TLS) to "
                                "publish live events to; empty = off.")
    mqtt_topic_prefix: str = Field("facetag", pattern=r"^[^#+\s]+$", description="Events go to "
                                   "PREFIX/events/KIND; PREFIX/status is online or offline (retained).")

    # Learning loop
    train_schedule: str = Field("", description="Cron expression for scheduled retraining; empty = off.")
    unknown_rejection: float = Field(0.99, ge=0.5, le=1.0, description="Share of strangers the trained threshold "
                                     "must leave unknown, calibrated on people left out of training.")
    model_check_interval: float = Field(5.0, gt=0, description="Seconds between checks for a new model.")
    auto_train: bool = Field(True, description="Train by itself once people have named enough new faces, or "
                             "after a quiet spell following the last new name; false = only on the schedule "
                             "and on demand.")
    auto_train_labels: int = Field(20, ge=1, description="Train as soon as this many faces were named by a "
                                   "person since the last training.")
    auto_train_quiet_seconds: float = Field(120.0, ge=0, description="Or train when names stop coming in for "
                                            "this long (a burst of naming gives one training, not one per name).")
    auto_train_check_seconds: float = Field(15.0, gt=0, description="How often the trainer looks whether to "
                                            "start a training by itself.")

    log_level: str = "INFO"

    @model_validator(mode="after")
    def _fill_embedded_defaults(self) -> Settings:
        self.data_dir = self.data_dir.expanduser().resolve()
        if not self.catalog_url:
            self.catalog_url = f"sqlite:///{self.data_dir / 'facetag.db'}"
        if not self.blob_url:
            self.blob_url = f"file://{self.data_dir / 'blobs'}"
        if self.onnx_threads == 0:
            # ONNX Runtime's own choice is every core: replicas sharing a machine would oversubscribe it.
            self.onnx_threads = threads_per_process(self.worker_processes)
        return self

    @property
    def embedded_broker(self) -> bool:
        return not self.broker_url

    @property
    def broker_dir(self) -> Path:
        return self.data_dir / "broker"

    @property
    def accepted_licences(self) -> frozenset[str]:
        return frozenset(k.strip() for k in self.accept_model_licence.split(",") if k.strip())

    @property
    def admin_key_set(self) -> frozenset[str]:
        return _split(self.admin_keys)

    @property
    def cors_origin_list(self) -> list[str]:
        return sorted(_split(self.cors_origins))

    @property
    def secure_cookies(self) -> bool:
        return self.public_url.lower().startswith("https://")

    @property
    def trusted_host_list(self) -> list[str]:
        hosts = {"localhost", "127.0.0.1", "::1", "[::1]"} | _split(self.trusted_hosts)
        if self.public_url:
            hosts.add(urlsplit(self.public_url).hostname or "localhost")
        if self.host not in ("0.0.0.0", "::", ""):
            hosts.add(self.host)
        return sorted(hosts)

    @property
    def webhook_retry_delay_list(self) -> list[float]:
        return [float(part) for part in self.webhook_retry_delays.split(",")]


def _split(text: str) -> frozenset[str]:
    return frozenset(part.strip() for part in text.split(",") if part.strip())


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
