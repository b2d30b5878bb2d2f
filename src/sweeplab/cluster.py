"""``sweeplab submit``: Ray's JobSubmissionClient running ``sweeplab tune`` as a job on a
cluster's head. (The storage check every multi-node sweep passes is ``store.check_shared``.)"""

from __future__ import annotations

import asyncio
import os
import shlex
import sys
from pathlib import Path
from typing import Optional

from .errors import UserError

DEFAULT_JOBS_ADDRESS = "http://127.0.0.1:8265"


def token_mode() -> None:
    """Ray's job client sends the cluster token only in token mode; turn it on when a token
    is at hand (Ray's own lookup order: RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH, ~/.ray/auth_token)."""
    if os.environ.get("RAY_AUTH_MODE"):
        return
    if (
        os.environ.get("RAY_AUTH_TOKEN")
        or os.environ.get("RAY_AUTH_TOKEN_PATH")
        or (Path.home() / ".ray" / "auth_token").is_file()
    ):
        os.environ["RAY_AUTH_MODE"] = "token"


def jobs_address(address: Optional[str]) -> str:
    address = address or os.environ.get("RAY_API_SERVER_ADDRESS") or DEFAULT_JOBS_ADDRESS
    # an HTTP address given with or without its scheme (not storage: schema.is_remote is for those)
    return address if "://" in address else f"http://{address}"


def submit(
    tune_argv: list[str], address: Optional[str] = None, follow: bool = False, ship_code: bool = False, echo=print
) -> int:
    """Submit ``sweeplab tune TUNE_ARGV`` as a Ray job; print its id and dashboard URL; with
    ``follow``, stream its logs and return 0 only if it succeeded."""
    from ray.job_submission import JobStatus, JobSubmissionClient

    address = jobs_address(address)
    token_mode()  # (cli calls it before anything imports Ray, which reads it once at import)
    try:
        client = JobSubmissionClient(address)
    except Exception as e:  # connection refused, bad token, not a Ray dashboard: one line each
        raise UserError(f"--address {address}: cannot reach Ray's job API ({_first_line(e)})") from None
    runtime_env = None
    if ship_code:  # for clusters whose set-up did not install sweeplab: upload the package
        import sweeplab

        runtime_env = {"py_modules": [str(Path(sweeplab.__file__).resolve().parent)]}
    entrypoint = shlex.join(["sweeplab", "tune", *tune_argv])
    try:
        job_id = client.submit_job(
            entrypoint=entrypoint, runtime_env=runtime_env, metadata={"tool": "sweeplab", "command": "tune"}
        )
    except Exception as e:  # e.g. "No available agent to submit job": the head's job agent is not up
        raise UserError(f"--address {address}: the cluster refused the job ({_first_line(e)})") from None
    echo(f"job: {job_id}")
    echo(f"entrypoint: {entrypoint}")
    echo(f"dashboard: {address}/#/jobs/{job_id}")
    if not follow:
        echo(f"logs: ray job logs {job_id} --address {address} --follow")
        return 0
    asyncio.run(_tail(client, job_id))
    status = client.get_job_status(job_id)
    echo(f"job {job_id}: {status.value if hasattr(status, 'value') else status}")
    return 0 if status == JobStatus.SUCCEEDED else 1


async def _tail(client, job_id: str) -> None:
    async for lines in client.tail_job_logs(job_id):
        sys.stdout.write(lines)
        sys.stdout.flush()


def _first_line(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__
