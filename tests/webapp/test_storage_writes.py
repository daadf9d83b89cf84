"""Storing a file under a name no other file holds, on the request's thread (local files) or a writer
thread (a bucket: moto's S3 server, tests/storage_s3.py), in ``webapp.storage_writes``: what is stored,
what a failed write leaves, and a forked process's writers."""

import os
import threading

import pytest
from django.conf import DEFAULT_STORAGE_ALIAS
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.storage import default_storage, storages

from webapp import storage_writes
from webapp.storage import stored_names
from webapp.storage_writes import BackgroundWrite, stored_file_put


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def test_put_stores_the_bytes_under_the_name_without_looking_for_a_free_one(monkeypatch):
    def no_search(*args, **kwargs):
        raise AssertionError("a UUID name needs no search for a free one (a HEAD request on S3)")

    local = type(storages[DEFAULT_STORAGE_ALIAS])
    monkeypatch.setattr(local, "get_available_name", no_search)
    monkeypatch.setattr(local, "exists", no_search)

    assert stored_file_put(name="predictions/7/abc.jpg", content=b"pixels") == "predictions/7/abc.jpg"
    assert default_storage.open("predictions/7/abc.jpg").read() == b"pixels"


def test_put_on_local_files_still_never_overwrites():
    stored_file_put(name="predictions/7/abc.jpg", content=b"first")

    second = stored_file_put(name="predictions/7/abc.jpg", content=b"second")

    assert second != "predictions/7/abc.jpg"
    assert default_storage.open("predictions/7/abc.jpg").read() == b"first"
    assert default_storage.open(second).read() == b"second"


@pytest.mark.parametrize("name", ["../outside.jpg", "/etc/outside.jpg"])
def test_put_refuses_a_name_outside_storage(name):
    with pytest.raises(SuspiciousFileOperation):
        stored_file_put(name=name, content=b"x")

    assert list(stored_names()) == []


def _recording_put(monkeypatch):
    threads = []

    def put(*, name, content):
        threads.append(threading.current_thread().name)
        return stored_file_put(name=name, content=content)

    monkeypatch.setattr(storage_writes, "stored_file_put", put)
    return threads


def test_a_write_to_a_bucket_runs_on_a_writer_thread_and_gives_the_stored_name(s3_storage, monkeypatch):
    threads = _recording_put(monkeypatch)

    write = BackgroundWrite(name="predictions/7/abc.jpg", content=b"pixels")

    assert write.stored_name() == "predictions/7/abc.jpg"
    with default_storage.open("predictions/7/abc.jpg", "rb") as file:
        assert file.read() == b"pixels"
    assert threads[0].startswith("sightline-store")


def test_a_local_file_is_written_at_once_on_the_callers_thread(monkeypatch):
    threads = _recording_put(monkeypatch)

    write = BackgroundWrite(name="predictions/7/abc.jpg", content=b"pixels")

    assert threads == [threading.current_thread().name]
    assert write.stored_name() == "predictions/7/abc.jpg"
    assert default_storage.open("predictions/7/abc.jpg").read() == b"pixels"


@pytest.mark.parametrize("where", ["local", "bucket"])
def test_a_failed_write_raises_its_error_where_the_name_is_asked_for(where, request, monkeypatch):
    if where == "bucket":
        request.getfixturevalue("s3_storage")

    def full(*, name, content):
        raise OSError("No space left on device")

    monkeypatch.setattr(storage_writes, "stored_file_put", full)
    write = BackgroundWrite(name="predictions/7/abc.jpg", content=b"pixels")

    with pytest.raises(OSError, match="No space left"):
        write.stored_name()
    write.discard()  # nothing to delete, and it says nothing

    assert list(stored_names()) == []


def test_discard_waits_for_the_write_to_the_bucket_and_deletes_what_it_stored(s3_storage, monkeypatch):
    release = threading.Event()

    def slow(*, name, content):
        release.wait(10)
        return stored_file_put(name=name, content=content)

    monkeypatch.setattr(storage_writes, "stored_file_put", slow)
    write = BackgroundWrite(name="predictions/7/abc.jpg", content=b"pixels")
    threading.Timer(0.2, release.set).start()

    write.discard()

    assert release.is_set(), "discard() returned before the write ended"
    assert s3_storage.keys() == []


def test_a_delete_that_fails_in_discard_is_logged_not_raised(monkeypatch, caplog):
    def broken(*, names):
        raise OSError("bucket unreachable")

    monkeypatch.setattr(storage_writes, "stored_files_delete", broken)
    write = BackgroundWrite(name="predictions/7/abc.jpg", content=b"pixels")

    write.discard()

    assert "Could not delete predictions/7/abc.jpg" in caplog.text
    assert list(stored_names()) == ["predictions/7/abc.jpg"]  # left to the orphan sweep


def test_a_forked_process_starts_writer_threads_of_its_own():
    # The parent's pool has an idle thread now; a child inheriting it would queue work no thread runs.
    assert storage_writes._writers.submit(lambda: "written").result(timeout=10) == "written"

    child = os.fork()
    if child == 0:  # pragma: no cover - the child's result is its exit status
        try:
            done = storage_writes._writers.submit(lambda: "written").result(timeout=10) == "written"
        except BaseException:
            done = False
        os._exit(0 if done else 1)
    _, status = os.waitpid(child, 0)

    assert os.waitstatus_to_exitcode(status) == 0
