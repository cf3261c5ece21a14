"""What the assessment tests share: a policy with test-sized plan clocks, and the one seam the time-skipping server
needs (it has no ListWorkflowExecutions, so cycles read the memos of known workflows by describing them)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.worker import Worker

from activities.assessment import Listed
from activities.notifications import NotificationSink
from plugin import CxSlaPlugin
from tests.helpers.sinks import RecordingSink
from tests.helpers.temporal import task_queue


class KnownWorkflows:
    """Memos of the given workflows, straight from the server (DescribeWorkflowExecution). The query's filters
    are applied by the collecting activity itself, which checks each outcome's contract and receipt time."""

    def __init__(self, client: Client, ids: Iterable[str]) -> None:
        self._client = client
        self._ids = list(ids)

    def add(self, workflow_id: str) -> None:
        self._ids.append(workflow_id)

    async def pages(self, query: str) -> AsyncIterator[list[Listed]]:
        prefix = "complaint-" if "ComplaintWorkflow" in query else "outage-"
        listed = []
        for workflow_id in self._ids:
            if workflow_id.startswith(prefix):
                listed.append(await self._listed(workflow_id))
        yield listed

    async def _listed(self, workflow_id: str) -> Listed:
        # The raw describe: the SDK's typed description chokes on the test server's datetime search attributes.
        response = await self._client.workflow_service.describe_workflow_execution(DescribeWorkflowExecutionRequest(
            namespace=self._client.namespace, execution=WorkflowExecution(workflow_id=workflow_id)))
        info = response.workflow_execution_info
        converter = self._client.data_converter
        memo = {key: (await converter.decode([payload]))[0] for key, payload in info.memo.fields.items()}
        return Listed(workflow_id, memo, info.status == WorkflowExecutionStatus.RUNNING.value)


async def result_of(env, workflow_id: str, result_type: type):
    """A workflow's result on the time-skipping server: time skips only while a result is awaited through a
    handle that `start_workflow` returned, so a handle looked up by id unlocks it explicitly."""
    async with env.time_skipping_unlocked():
        return await env.client.get_workflow_handle(workflow_id, result_type=result_type).result()


@asynccontextmanager
async def assessment_worker(client: Client, *, policy_path: str, report_dir: Path, known: KnownWorkflows | None = None,
                            sink: NotificationSink | None = None):
    """A worker on its own queue with the given policy file and report directory; yields (queue, sink)."""
    sink = sink or RecordingSink()
    queue = task_queue()
    plugin = CxSlaPlugin(sink=sink, policy_path=policy_path, report_dir=str(report_dir),
                         memo_source=(lambda _client: known) if known is not None else None)
    async with Worker(client, task_queue=queue, plugins=[plugin]):
        yield queue, sink
