"""``minimize_batch(..., comm=comm)``: the problems split over the ranks of an MPI
communicator, each rank solving its block, every rank receiving the whole result."""

from __future__ import annotations

import hashlib
import warnings

import numpy as np
from scipy.optimize import OptimizeResult

from numadam._inputs import batch_bounds, batch_points, batch_rows
from numadam._mpi import (
    abort_when_uncaught,
    agree,
    check_comm,
    describe,
    error_kind,
    raise_together,
    shares,
)
from numadam._options import batch_method_name, batch_settings, disp_flag, problem_seeds
from numadam._resume import batch_rows_of, concatenate_states

__all__ = ["concatenate", "input_digests", "minimize_batch_across"]


def minimize_batch_across(comm, minimize_batch, summary, fun, x0, args, method, jac, bounds, tol,
                           callback, options, batch_args):
    """``minimize_batch(..., comm=comm)``: see :func:`numadam.minimize_batch`, which passes
    itself (to solve a block) and its ``summary`` (for ``disp``).

    Every rank validates the whole batch, solves its block of problems, and receives every
    block: one ``allgather`` for the agreement on the inputs, one for the results (or the
    error of any rank, raised on all of them as the same kind of error: see
    :func:`raise_together`; a caller catching ValueError then goes on alike on every rank).
    """
    comm = check_comm(comm)
    abort_when_uncaught(comm)
    local, failure, digests = None, None, None
    try:
        X = batch_points(x0)
        B, n = X.shape
        batch_args = batch_rows(batch_args, B)
        limits = batch_bounds(bounds, B, n)
        with warnings.catch_warnings():  # unknown options warn once, in the local run below
            warnings.simplefilter("ignore")
            name = batch_method_name(method)
            _, _, per_problem, settings = batch_settings(name, dict(options or {}), B)
            disp = disp_flag(settings["disp"])
        digests = input_digests(name, X, limits, dict(options or {}), tol, batch_args)
    except Exception as exc:  # every rank still joins the agreement below
        failure, B, n = exc, None, None
    outcomes = comm.allgather((error_kind(failure), describe(failure), B, n, digests))
    raise_together(comm, failure, outcomes, "minimize_batch")
    agree(comm, "x0 shape (B, n)", (B, n))
    differing = sorted({part for *_, other in outcomes for part in other
                        if other[part] != outcomes[0][4][part]})
    if differing:  # each rank would solve its block of another batch: a silently mixed result
        raise ValueError(f"every rank must pass the same inputs to minimize_batch(comm=...): "
                         f"the ranks' {', '.join(differing)} differ")

    counts, offsets = shares(B, comm.size)
    rows = slice(int(offsets[comm.rank]), int(offsets[comm.rank] + counts[comm.rank]))
    try:
        if counts[comm.rank]:
            # the summary is printed once, of the whole batch, on rank 0 (below)
            local_options = {name: value[rows] if name in per_problem else value
                             for name, value in dict(options or {}).items() if name != "disp"}
            if local_options.get("seed") is not None:  # each problem's seed, as in one process
                local_options["seed"] = problem_seeds(local_options["seed"], B)[rows]
            if local_options.get("state") is not None:  # the block's rows of every array
                local_options["state"] = batch_rows_of(local_options["state"], rows)
            local_bounds = None if limits is None else (limits[0][rows], limits[1][rows])
            local = minimize_batch(fun, X[rows], args, method, jac, local_bounds, tol, callback,
                                   local_options, batch_args=tuple(a[rows] for a in batch_args))
            local = dict(local)
    except Exception as exc:
        failure = exc
    gathered = comm.allgather((error_kind(failure), describe(failure), local))
    raise_together(comm, failure, gathered, "minimize_batch")
    result = concatenate([part for _, _, part in gathered if part is not None])
    if disp and comm.rank == 0:
        print(summary(result))
    return result




def input_digests(method, X, limits, options, tol, batch_args):
    """A 16-byte digest of each input the ranks must share (by name: ``method``, ``x0``,
    ``bounds``, ``options``, ``batch_args``), compared once at the start: the inputs
    themselves would cross the network, and the ranks hold them already. Arrays by their dtype,
    shape and bytes; other values by their ``repr`` (``args`` are left out: they may hold
    anything, functions too)."""

    def digest(*values):
        h = hashlib.blake2b(digest_size=16)

        def feed(value):
            if isinstance(value, np.ndarray):
                h.update(f"{value.dtype.str}{value.shape}".encode())
                h.update(np.ascontiguousarray(value).data)
            elif isinstance(value, (tuple, list)):  # may hold arrays (a (B, 2) betas)
                h.update(f"{type(value).__name__}{len(value)}".encode())
                for item in value:
                    feed(item)
            else:
                h.update(repr(value).encode())

        for value in values:
            feed(value)
        return h.digest()

    return {"method": method, "x0": digest(X), "bounds": digest(limits),
            "options": digest(sorted(options), [options[k] for k in sorted(options)], tol),
            "batch_args": digest(batch_args)}


def concatenate(parts):
    """One batch result from the ranks' blocks, in rank order."""
    first = parts[0]
    merged = {}
    for key, value in first.items():
        if isinstance(value, np.ndarray):
            merged[key] = np.concatenate([part[key] for part in parts])
        elif isinstance(value, list):
            merged[key] = [item for part in parts for item in part[key]]
        elif key == "state":
            merged[key] = concatenate_states([part[key] for part in parts])
        elif key == "compiled":
            merged[key] = any(part[key] for part in parts)
        else:
            merged[key] = value
    return OptimizeResult(merged)
