"""Liveness (the process answers) and readiness (Temporal answers) for load balancers and orchestrators."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from pydantic import BaseModel
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest

from starter.api.problems import ProblemError, responses

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str


@router.get("/healthz", response_model=Health, summary="The API process is up")
async def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses=responses(503), summary="Temporal is reachable")
async def readyz(request: Request) -> Health:
    client = request.app.state.complaints.client
    try:
        await client.workflow_service.get_system_info(GetSystemInfoRequest(), timeout=timedelta(seconds=3))
    except Exception as exc:  # noqa: BLE001 - any failure means not ready; say which
        raise ProblemError(503, "unavailable", f"Temporal at {client.service_client.config.target_host} "
                                               f"does not answer: {exc}") from None
    return Health(status="ready")
