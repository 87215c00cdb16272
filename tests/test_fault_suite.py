"""Nothing is lost and nothing is double-billed when the API and Discord misbehave."""

from __future__ import annotations

from pathlib import Path

from tests.fault_suite import run_fault_suite


async def test_two_hundred_jobs_under_faults_keep_an_exact_account(tmp_path: Path) -> None:
    """With 10% of API calls failing and 5% of uploads too, every job ends in a state its
    requester sees, no prediction is submitted twice, and the ledger equals the billing."""
    report = await run_fault_suite(tmp_path, jobs=200)

    assert sum(report.api_faults.values()) > 20  # the faults really happened
    assert report.visible_to_requester == report.jobs
    assert report.predictions_per_job_max == 1
    assert sum(report.final_states.values()) == report.jobs
    assert set(report.final_states) <= {"completed", "failed", "released"}
    assert report.ledger_cents == report.billed_cents
