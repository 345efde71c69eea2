"""`run_batches` / `gather_rows` with several workers (harness.models.encoding): input order, a
worker's error, and a pool that stops when its consumer does. Fake encoders that sleep stand in
for onnxruntime, which releases the GIL the same way."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import pytest

from harness.models.encoding import EncodeOptions, gather_rows, run_batches


class SlowEncode:
    """Rows of [value, value] after a short sleep; counts the calls started and their threads."""

    def __init__(self, seconds: float = 0.05, wrong_at: int | None = None) -> None:
        self.seconds = seconds
        self.wrong_at = wrong_at
        self.started = 0
        self.threads: set[int] = set()
        self.lock = threading.Lock()

    def __call__(self, batch: list[float]) -> Any:
        with self.lock:
            self.started += 1
            call = self.started
            self.threads.add(threading.get_ident())
        time.sleep(self.seconds)
        if call == self.wrong_at:
            return np.zeros((len(batch), 3), dtype=np.float32)  # a width the caller cannot store
        return np.array([[x, x] for x in batch], dtype=np.float32)


def test_workers_return_rows_in_input_order() -> None:
    items = [float(i) for i in range(23)]
    lengths = [(i * 7) % 5 for i in range(23)]  # batches run in length order, not input order
    encode = SlowEncode(seconds=0.01)
    rows = gather_rows(items, encode, EncodeOptions(batch_size=1), width=2, lengths=lengths, desc="t", workers=2)
    np.testing.assert_array_equal(rows[:, 0], np.arange(23, dtype=np.float32))
    assert len(encode.threads) == 2
    assert threading.get_ident() not in encode.threads


def test_a_worker_error_reaches_the_caller_unchanged() -> None:
    def encode(batch: list[int]) -> Any:
        if batch == [5]:
            raise ValueError("batch five is broken")
        return np.zeros((1, 2), dtype=np.float32)

    with pytest.raises(ValueError, match="batch five is broken"):
        list(run_batches(list(range(10)), encode, batch_size=1, lengths=[0] * 10, progress=False, desc="t", workers=2))


def test_the_pool_stops_when_the_caller_fails() -> None:
    encode = SlowEncode(seconds=0.05, wrong_at=3)
    try:
        gather_rows([0.0] * 40, encode, EncodeOptions(batch_size=1), width=2, lengths=[0] * 40, desc="t", workers=2)
    except ValueError:
        # Still handling the error: its traceback holds gather_rows' frame and the generator in
        # it. The pool must be shut down already, not when they are collected: a few calls more
        # than the three made, not the other 37.
        started = encode.started
        time.sleep(0.5)
        assert encode.started == started
        assert started <= 6
    else:
        pytest.fail("a row of the wrong width was stored")
