"""Bounded job reports: counts stay, listed rows stop at SIGHTLINE_REPORT_MAX_ROWS, every row is in a
CSV beside the job; a job list carries no reports, so its pages stay small whatever the jobs found."""

import csv
import io

import pytest
from django.core.files.storage import default_storage

from tests.training_jobs.conftest import running_job_of_test_kind
from training_jobs.kinds import JobResult
from training_jobs.models import Job
from training_jobs.report_limits import report_bound, report_csv
from training_jobs.services import job_cancel, job_delete, job_fail, job_succeed

pytestmark = pytest.mark.django_db(transaction=True)


def _rejected(count: int) -> list[dict]:
    return [
        {"filename": f"photos/{index:06d}.jpg", "reason": "missing", "detail": "not in the archive"}
        for index in range(count)
    ]


def test_report_bound_keeps_counts_and_cuts_long_lists_saying_so():
    report = {"imported": 2, "missing": 5, "rejected": _rejected(5), "classes": {"cat": 2}, "short": [1]}

    bounded, cut = report_bound(report, max_rows=3)

    assert bounded["rejected"] == report["rejected"][:3]
    assert (bounded["imported"], bounded["missing"], bounded["classes"], bounded["short"]) == (2, 5, {"cat": 2}, [1])
    assert bounded["truncated"] == {"rejected": {"listed": 3, "total": 5}}
    assert cut == {"rejected": report["rejected"]}
    assert report["rejected"] == _rejected(5), "the caller's report is not changed"
    assert report_bound({"rejected": _rejected(3)}, max_rows=3) == ({"rejected": _rejected(3)}, {})


def test_report_bound_shortens_long_text_in_listed_rows_and_keeps_it_whole_in_the_csv():
    # ZIP member names may be 64 KB: 100 of them once made a 13 MB report.
    name = "cats/" + "a" * 60_000 + ".jpg"
    report = {"rejected": [{"filename": name, "reason": "corrupt", "detail": f"{name} is damaged."}], "total": 1}

    bounded, cut = report_bound(report, max_rows=3)

    (row,) = bounded["rejected"]
    assert len(row["filename"]) == len(row["detail"]) == 1000
    assert row["filename"].endswith("…") and row["reason"] == "corrupt"
    assert bounded["truncated"] == {"rejected": {"listed": 1, "total": 1}}
    assert cut == {"rejected": report["rejected"]}
    assert name in report_csv(cut).decode()


def test_the_full_list_csv_has_every_row_and_defuses_formulas():
    rows = [
        {"filename": '=HYPERLINK("http://x")', "reason": "unsafe_path"},
        {"filename": "b.jpg", "reason": "corrupt", "detail": "cut short"},
    ]

    table = list(csv.DictReader(io.StringIO(report_csv({"rejected": rows, "names": ["+1", "plain"]}).decode())))

    assert [row["list"] for row in table] == ["rejected", "rejected", "names", "names"]
    assert table[0]["filename"] == '\'=HYPERLINK("http://x")'
    assert (table[1]["filename"], table[1]["detail"]) == ("b.jpg", "cut short")
    assert [row["value"] for row in table[2:]] == ["'+1", "plain"]


def test_a_job_with_a_huge_report_stores_a_small_one_and_every_row_as_csv(kind, settings, user_api, user):
    settings.SIGHTLINE_REPORT_MAX_ROWS = 50
    job = running_job_of_test_kind(requested_by=user)

    assert job_succeed(job_id=job.id, attempt=1, result=JobResult({"imported": 0, "rejected": _rejected(20_000)}))

    job.refresh_from_db()
    assert job.status == "succeeded"
    assert len(job.report["rejected"]) == 50
    assert job.report["truncated"] == {"rejected": {"listed": 50, "total": 20_000}}
    with default_storage.open(job.report_file.name) as stored:
        table = list(csv.DictReader(io.StringIO(stored.read().decode())))
    assert len(table) == 20_000 and table[-1]["filename"] == "photos/019999.jpg"

    detail = user_api.get(f"/api/v1/jobs/{job.id}/")
    assert detail.status_code == 200 and len(detail.content) < 20_000
    assert detail.json()["report_url"].endswith(f"/api/v1/jobs/{job.id}/report/")
    download = user_api.get(f"/api/v1/jobs/{job.id}/report/")
    assert download.status_code == 200
    assert len(b"".join(download.streaming_content).decode().splitlines()) == 20_001
    listed = user_api.get("/api/v1/jobs/")
    assert "report" not in listed.json()["results"][0] and len(listed.content) < 2_000


def test_the_job_page_says_the_list_was_cut_and_links_every_row(kind, settings, client, user):
    settings.SIGHTLINE_REPORT_MAX_ROWS = 10
    job = running_job_of_test_kind(requested_by=user)
    job_fail(
        job_id=job.id, error="every file was refused", report={"imported": 0, "rejected": _rejected(25)}, attempt=1
    )
    client.force_login(user)

    page = client.get(f"/jobs/{job.id}/").content.decode()

    assert "Showing 10 of 25 rejected rows." in page
    assert f"/api/v1/jobs/{job.id}/report/" in page
    assert page.count('class="filename"') == 10


def test_a_short_report_has_no_csv(kind, user_api, user):
    job = running_job_of_test_kind(requested_by=user)
    job_succeed(job_id=job.id, attempt=1, result=JobResult({"imported": 2, "rejected": _rejected(2)}))

    job.refresh_from_db()
    assert (job.report_file.name, len(job.report["rejected"]), "truncated" in job.report) == ("", 2, False)
    assert user_api.get(f"/api/v1/jobs/{job.id}/").json()["report_url"] is None
    assert user_api.get(f"/api/v1/jobs/{job.id}/report/").status_code == 404


def test_another_users_report_is_404(kind, settings, other_user, user_api):
    settings.SIGHTLINE_REPORT_MAX_ROWS = 1
    job = running_job_of_test_kind(requested_by=other_user)
    job_succeed(job_id=job.id, attempt=1, result=JobResult({"rejected": _rejected(3)}))

    assert user_api.get(f"/api/v1/jobs/{job.id}/report/").status_code == 404


def test_a_finish_that_comes_too_late_leaves_no_report_file(kind, settings):
    settings.SIGHTLINE_REPORT_MAX_ROWS = 1
    job = running_job_of_test_kind()
    job_cancel(job=job)

    assert job_succeed(job_id=job.id, attempt=1, result=JobResult({"rejected": _rejected(3)})) is False

    job.refresh_from_db()
    assert (job.status, job.report, job.report_file.name) == ("cancelled", {}, "")
    folder = f"jobs/{job.id}"
    assert not default_storage.exists(folder) or default_storage.listdir(folder)[1] == []


def test_deleting_the_job_deletes_its_report_file(kind, settings):
    settings.SIGHTLINE_REPORT_MAX_ROWS = 1
    job = running_job_of_test_kind()
    job_succeed(job_id=job.id, attempt=1, result=JobResult({"rejected": _rejected(3)}))
    job.refresh_from_db()
    name = job.report_file.name
    assert default_storage.exists(name)

    job_delete(job=job)

    assert not Job.objects.filter(id=job.id).exists()
    assert not default_storage.exists(name)
