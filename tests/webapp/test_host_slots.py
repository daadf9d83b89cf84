"""webapp.host_slots: a bound shared by the processes of a host, released when its holder dies."""

import subprocess
import sys
import textwrap

import pytest

from webapp.host_slots import host_slot


def test_no_more_holders_than_slots_and_a_released_slot_is_taken_again():
    with host_slot("fetch", 2) as first, host_slot("fetch", 2) as second:
        assert (first, second) == (True, True)
        with host_slot("fetch", 2) as third:
            assert third is False
    with host_slot("fetch", 2) as again:
        assert again is True


def test_slots_of_other_names_are_counted_apart_and_zero_slots_refuse_everyone():
    with host_slot("fetch", 1) as fetch, host_slot("export", 1) as export:
        assert (fetch, export) == (True, True)
    with host_slot("fetch", 0) as none:
        assert none is False


def test_a_slot_held_by_another_process_is_refused_and_given_back_when_that_process_is_killed(settings):
    settings.SIGHTLINE_LOCK_DIR.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen(  # noqa: S603 - fixed argv
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import fcntl, os, sys, time
                descriptor = os.open({str(settings.SIGHTLINE_LOCK_DIR / "fetch-0.lock")!r}, os.O_RDWR | os.O_CREAT)
                fcntl.flock(descriptor, fcntl.LOCK_EX)
                print("held", flush=True)
                time.sleep(60)
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with host_slot("fetch", 1) as held:
            assert held is False
    finally:
        holder.kill()
        holder.wait(timeout=10)
    with host_slot("fetch", 1) as held:
        assert held is True


def test_a_slot_name_that_could_leave_the_folder_is_refused():
    with pytest.raises(ValueError, match="slot name"), host_slot("../etc", 1):
        pass
