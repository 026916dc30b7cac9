"""`.npy` files mapped into memory without keeping a descriptor open.

Python's `mmap` (so `numpy.memmap` and `np.load(mmap_mode=...)`) keeps a duplicate of the
file's descriptor for as long as the mapping lives (Python 3.13 adds `trackfd=False`; this is
3.11): a segment of 18 arrays held 18 descriptors, and a server's count grew with its segments
until the open-file limit stopped every write (issue 23). A mapping stays valid after its
descriptor is closed (POSIX), so here the file is mapped with mmap(2) through ctypes and its
descriptor closed at once. The pages are unmapped when the last array over them is collected:
every array made from a mapping leads by `.base` to its `_Pages`, whose finalizer unmaps.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import weakref
from pathlib import Path
from typing import BinaryIO

import numpy as np

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                       ctypes.c_int, ctypes.c_int64)
_libc.munmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t)
_libc.msync.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
_MAP_FAILED = ctypes.c_void_p(-1).value
_MS_SYNC = 4  # <sys/mman.h> on Linux


class _Pages:
    """One mapping of a whole file; NumPy reads it through `__array_interface__` and keeps
    this object as the base of every array over it."""

    def __init__(self, fd: int, size: int, *, writable: bool, path: Path) -> None:
        prot = mmap.PROT_READ | (mmap.PROT_WRITE if writable else 0)
        addr = _libc.mmap(None, size, prot, mmap.MAP_SHARED, fd, 0)
        if addr is None or addr == _MAP_FAILED:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), str(path))
        self.addr, self.size = int(addr), size
        self.__array_interface__ = {"data": (self.addr, not writable), "shape": (size,),
                                    "typestr": "|u1", "version": 3}
        weakref.finalize(self, _libc.munmap, self.addr, size)

    def sync(self) -> None:
        if _libc.msync(self.addr, self.size, _MS_SYNC) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))


def map_npy(path: Path, *, writable: bool = False) -> np.ndarray:
    """The array of a `.npy` file (C order, no objects), mapped; no descriptor stays open."""
    with path.open("r+b" if writable else "rb") as handle:
        shape, dtype, offset = _header(handle, path)
        size = os.fstat(handle.fileno()).st_size
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if size < offset + nbytes:
            raise ValueError(f"{path.name}: {size} bytes, the header needs {offset + nbytes}")
        pages = _Pages(handle.fileno(), size, writable=writable, path=path)
    raw = np.asarray(pages)
    return raw[offset:offset + nbytes].view(dtype).reshape(shape)


def create_npy(path: Path, dtype: np.dtype | type, shape: tuple[int, ...]) -> np.ndarray:
    """A new `.npy` file of zeros, mapped writable (`flush` before fsyncing it)."""
    dtype = np.dtype(dtype)
    with path.open("wb") as handle:
        np.lib.format.write_array_header_1_0(handle, {
            "descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False,
            "shape": shape})
        handle.truncate(handle.tell() + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize)
    return map_npy(path, writable=True)


def flush(array: np.ndarray) -> None:
    """Write a writable mapping's changed pages to its file (msync)."""
    base = array.base
    while isinstance(base, np.ndarray):
        base = base.base
    if not isinstance(base, _Pages):
        raise ValueError("not an array made by map_npy")
    base.sync()


def _header(handle: BinaryIO, path: Path) -> tuple[tuple[int, ...], np.dtype, int]:
    fmt = np.lib.format
    version = fmt.read_magic(handle)
    if version == (1, 0):
        shape, fortran, dtype = fmt.read_array_header_1_0(handle)
    elif version == (2, 0):
        shape, fortran, dtype = fmt.read_array_header_2_0(handle)
    else:
        raise ValueError(f"{path.name}: .npy version {version}")
    if fortran or dtype.hasobject:
        raise ValueError(f"{path.name}: Fortran order or objects, not a mapped array")
    return tuple(shape), np.dtype(dtype), int(handle.tell())
