"""load_cuda on machines where a CUDA binding is installed but cannot start: one EdgepruneError
naming the backend and the reason, the next backend tried under "auto" (so the GPU tests
skip rather than error)."""

from __future__ import annotations

import sys
import types

import pytest

from edgeprune.errors import EdgepruneError
from edgeprune.targets.runners import cuda_backend
from edgeprune.targets.runners.cuda_backend import load_cuda


@pytest.fixture
def driverless_cuda_python(monkeypatch):
    """cuda-python 12.4-12.6.2 without libcuda.so.1: cudaSetDevice raises RuntimeError."""

    def set_device(device):
        raise RuntimeError("Failed to dlopen libcuda.so.1\n(more detail on a second line)")

    runtime = types.ModuleType("cuda.bindings.runtime")
    runtime.cudaSetDevice = set_device
    bindings = types.ModuleType("cuda.bindings")
    bindings.runtime, bindings.__version__ = runtime, "12.6.0"
    package = types.ModuleType("cuda")
    package.bindings = bindings
    monkeypatch.setitem(sys.modules, "cuda", package)
    monkeypatch.setitem(sys.modules, "cuda.bindings", bindings)
    monkeypatch.setitem(sys.modules, "cuda.bindings.runtime", runtime)
    monkeypatch.setitem(sys.modules, "pycuda", None)  # import pycuda -> ImportError
    monkeypatch.setitem(sys.modules, "pycuda.driver", None)


def test_a_binding_that_cannot_start_is_one_clear_error(driverless_cuda_python):
    for backend in ("cuda-python", "auto"):
        with pytest.raises(EdgepruneError) as info:
            load_cuda(backend)
        message = str(info.value)
        assert "cuda-python: Failed to dlopen libcuda.so.1" in message and "\n" not in message
    assert "pycuda not installed" in message  # "auto" says what else it tried


def test_auto_tries_the_next_backend(driverless_cuda_python, monkeypatch):
    class WorkingPyCuda:
        def __init__(self, device: int) -> None:
            self.device = device

    monkeypatch.setitem(cuda_backend.BACKENDS, "pycuda", WorkingPyCuda)
    assert isinstance(load_cuda("auto", 1), WorkingPyCuda)
    with pytest.raises(EdgepruneError, match="through cuda-python: Failed to dlopen"):
        load_cuda("cuda-python")


def test_missing_bindings_name_what_to_install(monkeypatch):
    for name in ("cuda", "cuda.bindings", "cuda.bindings.runtime", "cuda.cudart", "pycuda"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(EdgepruneError, match="neither cuda-python nor pycuda is installed"):
        load_cuda()
    with pytest.raises(EdgepruneError, match="^pycuda is not installed: pip install"):
        load_cuda("pycuda")
    with pytest.raises(EdgepruneError, match="unknown CUDA backend 'opencl'"):
        load_cuda("opencl")
