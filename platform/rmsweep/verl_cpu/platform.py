"""A ``cpu`` platform for veRL's platform registry: gloo, no accelerator, one logical Ray GPU.

veRL asks its platform for a device name, a ``torch.cuda``-like module, a collective backend
and a Ray resource name. On this platform the device is the CPU, the device module answers
every accelerator call with a harmless no-op, collectives go through gloo, and each worker
holds one *logical* Ray ``GPU`` (veRL's resource pools always ask for one per worker).
"""

from __future__ import annotations

import functools
import os
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from verl.plugin.platform.platform_base import PlatformBase

PLATFORM_NAME = "cpu"


def normalise_backend(backend: Any) -> Any:
    """Drop repeated ``device:backend`` pairs from a process-group backend string.

    veRL builds ``f"cpu:gloo,{device}:{backend}"``; with device ``cpu`` that reads
    ``cpu:gloo,cpu:gloo``, which torch rejects ("Duplicate device type cpu").

    Args:
        backend: The backend argument given to ``init_process_group`` (any type).

    Returns:
        The same string with duplicate pairs removed (``cpu:gloo``); anything else unchanged.
    """
    if not isinstance(backend, str) or "," not in backend:
        return backend
    pairs = [p.strip() for p in backend.split(",") if p.strip()]
    return ",".join(dict.fromkeys(pairs))


def _install_backend_normaliser() -> None:
    """Wrap ``torch.distributed.init_process_group`` once so it normalises the backend."""
    import torch.distributed as dist

    original = dist.init_process_group
    if getattr(original, "_rmsweep_normalised", False):
        return

    @functools.wraps(original)
    def init_process_group(*args: Any, **kwargs: Any) -> Any:
        if "backend" in kwargs:
            kwargs["backend"] = normalise_backend(kwargs["backend"])
        elif args:
            args = (normalise_backend(args[0]), *args[1:])
        return original(*args, **kwargs)

    init_process_group._rmsweep_normalised = True  # type: ignore[attr-defined]
    dist.init_process_group = init_process_group


def _host_memory() -> tuple[int, int]:
    """(free, total) bytes of host memory, standing in for ``mem_get_info``."""
    import psutil

    vm = psutil.virtual_memory()
    return int(vm.available), int(vm.total)


def _zero(*_args: Any, **_kwargs: Any) -> int:
    return 0


def _noop(*_args: Any, **_kwargs: Any) -> None:
    return None


def _make_device_module() -> types.ModuleType:
    """A ``torch.cuda``-shaped module whose accelerator calls are no-ops on the host.

    Streams, events and ``synchronize`` come from ``torch.cpu``; memory statistics read zero;
    ``mem_get_info`` reports host memory; RNG state is the CPU generator's.
    ``is_available()`` is False: there is no accelerator to manage, so veRL skips its
    device-memory bookkeeping.
    """
    mod = types.ModuleType("rmsweep_cpu_device")
    for name in ("Stream", "Event", "StreamContext", "current_stream", "stream", "synchronize"):
        setattr(mod, name, getattr(torch.cpu, name))
    # A ModuleType has no declared attributes, so they are set by name.
    calls: dict[str, Callable[..., Any]] = {
        "is_available": lambda: False,
        "device_count": lambda: 1,
        "current_device": lambda: PLATFORM_NAME,
        "set_device": _noop,
        "get_device_name": lambda *_a, **_k: PLATFORM_NAME,
        "empty_cache": _noop,
        "ipc_collect": _noop,
        "set_per_process_memory_fraction": _noop,
        "reset_peak_memory_stats": _noop,
        "reset_accumulated_memory_stats": _noop,
        "memory_allocated": _zero,
        "memory_reserved": _zero,
        "max_memory_allocated": _zero,
        "max_memory_reserved": _zero,
        "mem_get_info": lambda *_a, **_k: _host_memory(),
        "manual_seed": lambda seed: torch.manual_seed(seed),
        "manual_seed_all": lambda seed: torch.manual_seed(seed),
        "get_rng_state": lambda *_a, **_k: torch.get_rng_state(),
        "set_rng_state": lambda state, *_a, **_k: torch.set_rng_state(state),
    }
    for name, call in calls.items():
        setattr(mod, name, call)
    return mod


_DEVICE_MODULE = _make_device_module()


class CPUPlatform(PlatformBase):
    """veRL platform for hosts without an accelerator (selected by ``VERL_PLATFORM=cpu``)."""

    def __init__(self) -> None:
        super().__init__()
        # veRL builds its platform once per process, before any model work: the moment to
        # swap in the CPU-friendly log-prob function (rmsweep.verl_cpu.logprobs).
        from rmsweep.verl_cpu import logprobs

        logprobs.install()

    @property
    def device_name(self) -> str:
        return PLATFORM_NAME

    @property
    def vendor_name(self) -> str:
        return "cpu"

    @property
    def device_module(self) -> types.ModuleType:
        return _DEVICE_MODULE

    def is_available(self) -> bool:
        return True

    def is_platform_available(self, use_smi_check: bool = False) -> bool:
        # Never auto-detected: a CPU run is asked for explicitly with VERL_PLATFORM=cpu.
        return False

    def current_device(self) -> str:  # type: ignore[override]
        # veRL moves modules with ``.to(get_device_id())``; an int would mean cuda:<int>.
        return PLATFORM_NAME

    def device_count(self) -> int:
        return 1

    def set_device(self, device_index: int) -> None:
        return None

    def synchronize(self, device_index: int | None = None) -> None:
        return None

    def manual_seed(self, seed: int) -> None:
        torch.manual_seed(seed)

    def manual_seed_all(self, seed: int) -> None:
        torch.manual_seed(seed)

    def set_allocator_settings(self, settings: str) -> None:
        return None

    def empty_cache(self) -> None:
        return None

    def get_device_capability(self, device_index: int = 0) -> tuple[int | None, int | None]:
        return None, None

    def communication_backend_name(self) -> str:
        # veRL calls this just before init_process_group, with the "cpu:gloo,cpu:gloo" string
        # that torch rejects: install the normaliser here, in the processes that need it.
        _install_backend_normaliser()
        return "gloo"

    def visible_devices_envvar(self) -> str:
        # Ray names the logical GPU of each worker in this variable.
        return "CUDA_VISIBLE_DEVICES"

    @contextmanager
    def nvtx_range(self, msg: str) -> Iterator[None]:
        yield

    def profiler_start(self) -> None:
        return None

    def profiler_stop(self) -> None:
        return None

    def ray_resource_name(self) -> str:
        # veRL's resource pools always reserve one accelerator per worker; on a CPU host that is
        # a logical Ray GPU (ray_init.num_gpus), which nothing ever touches.
        return "GPU"

    def ray_noset_envvars(self) -> list[str]:
        return []

    def is_ipc_supported(self) -> bool:
        return False

    def cudart(self) -> Any:
        return None

    def get_device_uuid(self, device_id: int) -> str:
        return f"cpu-{os.getpid()}-{device_id}"
