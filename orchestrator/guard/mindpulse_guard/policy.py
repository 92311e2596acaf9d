"""What the Docker guard forwards to an engine, and why it refuses the rest: every rule in one place.

The guard stands between Airflow and each Docker engine (docs/security.md). Airflow only ever runs MindPulse
steps, so the guard lets through exactly what running one needs, as the DockerOperator and the cluster's
worker check send it:

- ping and version; listing and inspecting MindPulse step images; on a cluster host, pulling them from the
  cluster's registry (a single machine never pulls);
- inspecting the declared named volumes;
- creating a container of a step image, in the sandbox every step runs in (mindpulse.sandbox), labelled as
  that step, mounting only the volumes that step declares (read-only where it only reads), with no network
  unless the step posts to a webhook, and only when the engine's image under that name is the build
  ./build_images.sh recorded in the image lock (mindpulse.image_lock);
- start, attach, wait, logs, stop, kill, copy-out, inspect and remove of containers labelled as a step, and
  listing containers by a MindPulse label.

Everything else is refused with one line saying what and why: `exec`, builds, imports, other images, other
containers, privileges, capabilities, host namespaces, devices, host paths. Standard library only, pure: the
server (mindpulse_guard.server) reads requests and asks this module.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from mindpulse import catalog, image_lock, sandbox
from mindpulse.paths import VOLUME_DIRS, volume_name
from mindpulse_guard.api_keys import CONFIG_KEYS, HOST_CONFIG_KEYS, MOUNT_KEYS

# Why anything without a rule is refused (the guard's line names the method and path).
NOT_NEEDED = "not an operation a MindPulse step needs"
# The largest request body the guard reads: a container's create request is a few kB.
MAX_BODY_BYTES = 1 << 20

_API_VERSION = re.compile(r"^/v[0-9]+(\.[0-9]+)?(?=/)")
_CONTAINER = re.compile(r"^/containers/(?P<id>[A-Za-z0-9][A-Za-z0-9_.-]*)(?P<action>/[a-z]+)?$")
# What may be done to a step container, by method.
_CONTAINER_ACTIONS = {
    ("GET", "/json"),
    ("POST", "/start"),
    ("POST", "/attach"),
    ("POST", "/wait"),
    ("GET", "/logs"),
    ("POST", "/stop"),
    ("POST", "/kill"),
    ("GET", "/archive"),
    ("HEAD", "/archive"),
    ("DELETE", ""),
}
_NO_NEW_PRIVILEGES = {"no-new-privileges", "no-new-privileges:true", "no-new-privileges=true"}
# HostConfig settings a step container may carry with a value; each is checked below where it matters. Any
# other setting must be absent or empty (false, 0, "", [], {}): privileges, capabilities, devices, host
# namespaces, port bindings, extra hosts, other runtimes and the like.
_HOST_CONFIG_ALLOWED = {
    "Binds",
    "Mounts",
    "NetworkMode",
    "ReadonlyRootfs",
    "Tmpfs",
    "CapDrop",
    "SecurityOpt",
    "PidsLimit",
    "Memory",
    "MemorySwap",
    "MemoryReservation",
    "NanoCpus",
    "CpuShares",
    "CpuPeriod",
    "CpuQuota",
    "ShmSize",
    "AutoRemove",
    "LogConfig",
    "RestartPolicy",
    "Init",
}
_NETWORKS_WITHOUT = {"none"}
_NETWORKS_WITH = {"none", "bridge", "default"}
_ROOT_USERS = re.compile(r"^(0|root)(:.*)?$")


class Refused(Exception):
    """A request the guard does not forward; the message is the one line the caller and the guard's log show."""


@dataclass(frozen=True)
class Settings:
    """What this guard's engine may run: the step images under `registry` with `tag`, and the named volumes."""

    tag: str
    registry: str = ""
    # Step volume ("data") -> the named volume the engine mounts for it.
    volumes: Mapping[str, str] = field(default_factory=dict)
    # Step repository (mindpulse/detect-drift) -> the image ID ./build_images.sh recorded (mindpulse.image_lock).
    image_ids: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ, lock: Path = image_lock.MOUNTED) -> Settings:
        tag = environ.get("MINDPULSE_IMAGE_TAG", "").strip()
        if not tag:
            raise ValueError("setting MINDPULSE_IMAGE_TAG: empty; the guard must know which tag the DAGs run")
        return cls(
            tag=tag,
            registry=environ.get("MINDPULSE_REGISTRY", "").strip().rstrip("/"),
            volumes={volume: volume_name(volume, environ) for volume in VOLUME_DIRS},
            image_ids=image_lock.read(lock, tag),
        )

    def image(self, step: catalog.Step) -> str:
        """The reference the DAGs run for `step` (mindpulse_step_spec.image)."""
        return f"{self.repository(step)}:{self.tag}"

    def repository(self, step: catalog.Step) -> str:
        return f"{self.registry}/{step.image_name}" if self.registry else step.image_name

    def step_of_image(self, reference: str) -> catalog.Step:
        for step in catalog.STEPS:
            if reference == self.image(step):
                return step
        raise Refused(
            f"image {reference!r} is not a MindPulse step image (expected {self.image(catalog.STEPS[0])}, ...)"
        )


@dataclass(frozen=True)
class Request:
    method: str
    target: str
    body: bytes = b""

    @property
    def path(self) -> str:
        return _API_VERSION.sub("", unquote(urlsplit(self.target).path), count=1)

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.target).query)


@dataclass(frozen=True)
class Decision:
    """Forward the request; for a container-scoped one, only once `container` is known to be a step container; for
    a create, only once the engine's image under the name `image` is the recorded build (check_image). A pull from
    the cluster's registry goes with the guard's own registry credential (`pull`)."""

    container: str | None = None
    image: str | None = None
    pull: bool = False


def decide(request: Request, settings: Settings) -> Decision:
    """Forward (maybe after a container check) or raise Refused with the reason."""
    method, path = request.method, request.path
    container = _CONTAINER.match(path)
    if container and container["id"] not in {"json", "create", "prune"}:
        action = container["action"] or ""
        if (method, action) not in _CONTAINER_ACTIONS:
            raise Refused(NOT_NEEDED)
        return Decision(container=container["id"])
    rule = _RULES.get((method, path)) or _pattern_rule(method, path)
    if rule is None:
        raise Refused(NOT_NEEDED)
    rule(request, settings)
    image = str(json.loads(request.body)["Image"]) if rule is _create else None
    return Decision(image=image, pull=rule is _pull)


def check_image(reference: str, image_id: str | None, settings: Settings) -> None:
    """A step container starts only from the image ID ./build_images.sh recorded for its step (`image_id`: what the
    engine holds under `reference`, None when it holds nothing)."""
    step = settings.step_of_image(reference)
    recorded = settings.image_ids.get(step.image_name)
    if recorded is None:
        raise Refused(f"no build of {step.image_name} is recorded in the image lock: {image_lock.BUILD_COMMAND}")
    if image_id is None:
        raise Refused(f"image {reference} is not on this engine: build it with {image_lock.BUILD_COMMAND}")
    if image_id != recorded:
        raise Refused(
            f"image {reference} is {image_id[:19]}, not the build {image_lock.BUILD_COMMAND} recorded ({recorded[:19]})"
        )


def check_container(container: str, labels: Mapping[str, str] | None) -> None:
    """A container-scoped request goes through only for a container labelled as a MindPulse step."""
    if not labels or labels.get(sandbox.STEP_LABEL) not in {step.name for step in catalog.STEPS}:
        raise Refused(f"container {container} is not a MindPulse step container")


def _nothing(request: Request, settings: Settings) -> None:
    return None


def _list_images(request: Request, settings: Settings) -> None:
    references = _filters(request).get("reference", [])
    if not references:
        raise Refused("listing images needs a reference filter naming a MindPulse step image")
    for reference in references:
        settings.step_of_image(reference)


def _list_containers(request: Request, settings: Settings) -> None:
    labels = _filters(request).get("label", [])
    if not any(label.startswith(sandbox.LABEL_PREFIX) for label in labels):
        raise Refused(f"listing containers needs a label filter on a MindPulse label ({sandbox.LABEL_PREFIX}*)")


def _pull(request: Request, settings: Settings) -> None:
    query = request.query
    image = query.get("fromImage", [""])[0]
    tag = query.get("tag", [""])[0]
    if query.get("fromSrc"):
        raise Refused("importing an image is not allowed")
    if not settings.registry:
        raise Refused(
            f"pulling {image!r} is not allowed: this engine runs only the images built on it by ./build_images.sh"
        )
    settings.step_of_image(f"{image}:{tag}" if tag else image)


def _create(request: Request, settings: Settings) -> None:
    try:
        body = json.loads(request.body or b"{}", object_pairs_hook=_one_reading)
    except ValueError:
        raise Refused("the create request's body is not JSON") from None
    if not isinstance(body, dict):
        raise Refused("the create request's body is not a JSON object")
    _exact_keys(body, CONFIG_KEYS, "the container")
    if body.get("Runtime"):
        raise Refused("a step container runs on the engine's default runtime")
    step = settings.step_of_image(str(body.get("Image", "")))
    labels = body.get("Labels") or {}
    if labels.get(sandbox.STEP_LABEL) != step.name:
        raise Refused(f"a container of {step.image_name} must carry the label {sandbox.STEP_LABEL}={step.name}")
    if body.get("Entrypoint"):
        raise Refused("a step container runs its image's own entrypoint")
    if _ROOT_USERS.match(str(body.get("User") or "")):
        raise Refused("a step container does not run as root")
    host = body.get("HostConfig") or {}
    _check_host_config(host, step, settings)
    networking = body.get("NetworkingConfig") or {}
    _exact_keys(networking, frozenset({"EndpointsConfig"}), "NetworkingConfig")
    others = set(networking.get("EndpointsConfig") or {}) - {host.get("NetworkMode") or "default"}
    if others:
        raise Refused(f"a step container joins no other network ({', '.join(sorted(others))})")


def _one_reading(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object read as the engine (Go) reads it, or refused where Go could read it otherwise: Go matches a key
    to a field whatever its case, and of two keys for one field the last wins, so two keys of one object that
    differ only in case (or not at all) could hide a setting from the guard that the engine would apply."""
    seen: dict[str, str] = {}
    for key, _ in pairs:
        if key.casefold() in seen:
            raise Refused(f"the create request names one setting twice ({seen[key.casefold()]!r} and {key!r})")
        seen[key.casefold()] = key
    return dict(pairs)


def _exact_keys(settings: Mapping[str, Any], known: frozenset[str], where: str) -> None:
    """Each key spelled exactly as the engine's API does: a key in another case is a setting the guard would not
    see under its name, yet the engine would apply."""
    for key in settings:
        if key not in known:
            raise Refused(f"{where} has a setting {key!r} a step container does not have")


def _check_host_config(host: Mapping[str, Any], step: catalog.Step, settings: Settings) -> None:
    _exact_keys(host, HOST_CONFIG_KEYS, "HostConfig")
    if host.get("Privileged"):
        raise Refused("privileged containers are not allowed")
    for key in ("MaskedPaths", "ReadonlyPaths"):
        if key in host:  # even empty: an empty list unmasks what the engine masks by default
            raise Refused(f"HostConfig.{key} is not allowed: a step keeps the engine's default masks")
    if host.get("CapAdd"):
        raise Refused(f"adding capabilities ({', '.join(map(str, host['CapAdd']))}) is not allowed")
    for key in ("PidMode", "IpcMode", "UTSMode", "UsernsMode", "CgroupnsMode"):
        if host.get(key) not in (None, "", "private"):
            raise Refused(f"HostConfig.{key}={host[key]!r}: a step container shares no namespace with the host")
    network = host.get("NetworkMode") or "default"
    allowed_networks = _NETWORKS_WITH if step.network else _NETWORKS_WITHOUT
    if network not in allowed_networks:
        raise Refused(f"network mode {network!r} is not allowed for {step.name} (allowed: {sorted(allowed_networks)})")
    for key, value in host.items():
        if key not in _HOST_CONFIG_ALLOWED and value not in (None, False, 0, "", [], {}):
            raise Refused(f"HostConfig.{key} is not allowed in a step container")
    required = sandbox.host_config()
    if host.get("ReadonlyRootfs") is not True:
        raise Refused("a step container has a read-only root file system (ReadonlyRootfs)")
    if "ALL" not in (host.get("CapDrop") or []):
        raise Refused("a step container drops every capability (CapDrop ALL)")
    options = set(host.get("SecurityOpt") or [])
    if not options & _NO_NEW_PRIVILEGES or options - _NO_NEW_PRIVILEGES:
        raise Refused(f"a step container has exactly the security option no-new-privileges, not {sorted(options)}")
    pids = host.get("PidsLimit") or 0
    if not 0 < pids <= required["pids_limit"]:
        raise Refused(f"a step container has a process limit of at most {required['pids_limit']} (PidsLimit)")
    if set(host.get("Tmpfs") or {}) - set(required["tmpfs"]):
        raise Refused(f"a step container has a tmpfs only at {', '.join(required['tmpfs'])}")
    _exact_keys(host.get("LogConfig") or {}, frozenset({"Type", "Config"}), "HostConfig.LogConfig")
    _exact_keys(host.get("RestartPolicy") or {}, frozenset({"Name", "MaximumRetryCount"}), "HostConfig.RestartPolicy")
    log_driver = (host.get("LogConfig") or {}).get("Type") or ""
    if log_driver not in ("", "json-file", "local"):
        raise Refused(f"log driver {log_driver!r} is not allowed")
    restart = (host.get("RestartPolicy") or {}).get("Name") or ""
    if restart not in ("", "no"):
        raise Refused(f"restart policy {restart!r} is not allowed: a step runs once")
    for mount in host.get("Mounts") or []:
        _exact_keys(mount, MOUNT_KEYS, "a mount")
    mounts = [
        (m.get("Type"), m.get("Source"), m.get("Target"), bool(m.get("ReadOnly")), m) for m in host.get("Mounts") or []
    ]
    mounts += [_bind(bind) for bind in host.get("Binds") or []]
    for kind, source, target, read_only, mount in mounts:
        _check_mount(kind, source, target, read_only, mount, step, settings)


def _bind(bind: str) -> tuple[str, str, str, bool, Mapping[str, Any]]:
    """A `Binds` entry (source:target[:options]) as a mount."""
    source, _, rest = str(bind).partition(":")
    target, _, options = rest.partition(":")
    kind = "bind" if source.startswith("/") or source.startswith(".") else "volume"
    return kind, source, target, "ro" in options.split(","), {}


def _check_mount(
    kind: Any,
    source: Any,
    target: Any,
    read_only: bool,
    mount: Mapping[str, Any],
    step: catalog.Step,
    settings: Settings,
) -> None:
    if kind != "volume":
        raise Refused(f"a {kind} mount of {source!r} is not allowed: a step mounts only its named volumes")
    if (mount.get("VolumeOptions") or {}).get("DriverConfig") or mount.get("BindOptions") or mount.get("TmpfsOptions"):
        raise Refused(f"a mount of {source!r} may not configure a volume driver or other mount options")
    _exact_keys(mount.get("VolumeOptions") or {}, frozenset({"NoCopy", "Labels", "DriverConfig", "Subpath"}), "a mount")
    declared = {settings.volumes[volume]: volume for volume in step.volumes}
    volume = declared.get(str(source))
    if volume is None:
        raise Refused(f"{step.name} mounts only {sorted(declared)}, not {source!r}")
    if target != VOLUME_DIRS[volume]:
        raise Refused(f"volume {source} is mounted at {VOLUME_DIRS[volume]}, not {target!r}")
    if volume not in step.writes and not read_only:
        raise Refused(f"{step.name} only reads {source}: it is mounted read-only")


def _filters(request: Request) -> dict[str, list[str]]:
    raw = request.query.get("filters", ["{}"])[0]
    try:
        filters = json.loads(raw)
    except ValueError:
        raise Refused("the filters parameter is not JSON") from None
    # Docker accepts both {"label": ["a=b"]} and the older {"label": {"a=b": true}}.
    return {key: list(value) for key, value in filters.items()} if isinstance(filters, dict) else {}


def _image_inspect(request: Request, settings: Settings) -> None:
    settings.step_of_image(request.path.removeprefix("/images/").removesuffix("/json"))


def _volume_inspect(request: Request, settings: Settings) -> None:
    name = request.path.removeprefix("/volumes/")
    if name not in settings.volumes.values():
        raise Refused(f"volume {name!r} is not one of the MindPulse volumes")


_Rule = Callable[[Request, Settings], None]
_RULES: dict[tuple[str, str], _Rule] = {
    ("GET", "/_ping"): _nothing,
    ("HEAD", "/_ping"): _nothing,
    ("GET", "/version"): _nothing,
    ("GET", "/images/json"): _list_images,
    ("POST", "/images/create"): _pull,
    ("GET", "/containers/json"): _list_containers,
    ("POST", "/containers/create"): _create,
}


def _pattern_rule(method: str, path: str) -> _Rule | None:
    if method == "GET" and path.startswith("/images/") and path.endswith("/json"):
        return _image_inspect
    if method == "GET" and re.fullmatch(r"/volumes/[^/]+", path):
        return _volume_inspect
    return None
