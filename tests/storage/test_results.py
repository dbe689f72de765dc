"""The results store keeps whole page results (pickled objects) keyed by their inputs and the code: a hit skips the
computation, a miss computes once however many threads ask, a broken entry is a miss, never an error."""
import sqlite3
import threading
import time

import pandas as pd

from hrm_core.storage import results as store_mod
from hrm_core.storage.results import ResultStore, object_key, remember


def test_four_threads_asking_for_one_missing_result_compute_it_once_and_a_restart_reads_it(tmp_path):
    store, calls = ResultStore(tmp_path / "results.db"), []

    def compute():
        calls.append(1)
        time.sleep(0.3)  # long enough for every thread to be waiting on the same key
        return pd.DataFrame({"x": [1.0, 2.0]})

    got = []
    threads = [threading.Thread(target=lambda: got.append(remember(store, "k", {"a": 1}, compute))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and sum(stored for _, stored in got) == 3
    assert all(v.equals(got[0][0]) for v, _ in got)
    again, stored = remember(ResultStore(tmp_path / "results.db"), "k", {"a": 1}, compute)  # a new process's store
    assert stored and again.equals(got[0][0]) and len(calls) == 1


def test_other_inputs_or_other_code_are_other_keys(tmp_path, monkeypatch):
    store = ResultStore(tmp_path / "results.db")
    assert remember(store, "k", {"a": 1}, lambda: 1) == (1, False)
    assert remember(store, "k", {"a": 2}, lambda: 2) == (2, False)
    before = object_key({"a": 1})
    monkeypatch.setattr(store_mod, "code_fingerprint", lambda: "edited")
    assert object_key({"a": 1}) != before and remember(store, "k", {"a": 1}, lambda: 3) == (3, False)


def test_a_corrupt_entry_or_an_unreadable_file_is_a_miss_with_a_warning(tmp_path):
    path = tmp_path / "results.db"
    store = ResultStore(path)
    remember(store, "k", {"a": 1}, lambda: {"ok": True})
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE objects SET payload = ?", (b"not a pickle",))
    assert remember(store, "k", {"a": 1}, lambda: {"ok": "again"}) == ({"ok": "again"}, False)
    assert "could not be read" in store.warning
    path.write_bytes(b"this is not SQLite")
    broken = ResultStore(path)
    assert remember(broken, "k", {"a": 1}, lambda: 5) == (5, False) and broken.warning
    assert remember(None, "k", {"a": 1}, lambda: 6) == (6, False)  # no store: compute, keep nothing


def test_only_the_newest_objects_of_a_kind_are_kept(tmp_path, monkeypatch):
    """Every code edit makes new keys: the store drops the oldest objects of a kind instead of growing forever."""
    monkeypatch.setattr(store_mod, "KEEP_OBJECTS", 3)
    store = ResultStore(tmp_path / "results.db")
    for i in range(5):
        store.put_object("k", f"key{i}", i)
        store.put_object("other", f"key{i}", i)
    assert [store.get_object("k", f"key{i}") for i in range(5)] == [None, None, 2, 3, 4]
    assert store.get_object("other", "key4") == 4 and store.get_object("other", "key1") is None
