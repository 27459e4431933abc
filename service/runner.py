"""The workflow runner: the SDK's sandbox, with the engine's modules imported once, and the
payload contexts that depend only on the workflow's own identity answered outside it.

Before it encodes or decodes a payload, the worker asks the workflow instance for the payload's
serialization context and external-store context, once per payload list and visit (four visits
an activation). The sandboxed instance answers each question by running code inside the sandbox
(``exec`` under the sandbox's importer), about 0.1-0.3 ms a time: profiled, that was 14 % of the
bench's busy CPU, more than the routing step's SQL (issue 14). For a payload that belongs to no
pending command, or to a command that is not about another activity, workflow or operation, the
SDK's answer is the workflow's own context (``WorkflowSerializationContext`` of its namespace and
id; the store context of its namespace, id, run and type), which this runner builds once per
instance. The other commands (and a completion, whose result a child stores for its parent)
still ask the sandbox. ``tests/test_runner.py`` replays every
recorded history checking each answer against the sandbox's own, so an SDK whose rules change
fails there, not in production.
"""

from __future__ import annotations

import dataclasses

import temporalio.converter
from temporalio.api.enums.v1 import CommandType
from temporalio.bridge.proto.workflow_activation import WorkflowActivation
from temporalio.bridge.proto.workflow_completion import WorkflowActivationCompletion
from temporalio.worker import WorkflowInstance, WorkflowInstanceDetails
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions
from temporalio.workflow import Info

# The sandbox imports a workflow's modules afresh for every workflow it starts or replays, unless
# they are passed through. The engine's own modules (pure decisions and pydantic models) and the
# libraries they use are deterministic at import and keep no per-workflow state, so they are
# imported once: a cache miss costs about half as much CPU (issue 14).
PASSED_THROUGH = ("pydantic", "pydantic_core", "annotated_types", "typing_inspection", "routing", "workflows",
                  "activities", "store", "service", "sqlalchemy", "zoneinfo", "yaml")

# Commands whose payloads carry another party's context (the SDK's
# ``_WorkflowInstanceImpl.get_serialization_context`` and ``get_external_store_context``).
_SERIALIZED_FOR_ANOTHER = frozenset({
    CommandType.COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK, CommandType.COMMAND_TYPE_START_CHILD_WORKFLOW_EXECUTION,
    CommandType.COMMAND_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION, CommandType.COMMAND_TYPE_SCHEDULE_NEXUS_OPERATION})
_STORED_FOR_ANOTHER = frozenset({
    CommandType.COMMAND_TYPE_START_CHILD_WORKFLOW_EXECUTION, CommandType.COMMAND_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION,
    CommandType.COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION})  # a child's result is stored for its parent


@dataclasses.dataclass(frozen=True)
class Runner(SandboxedWorkflowRunner):
    """``SandboxedWorkflowRunner`` (it is one: plugins that extend a sandbox's restrictions still
    see it) whose instances answer the workflow's own payload contexts themselves."""

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        return OwnContexts(super().create_instance(det), det.info)


class OwnContexts(WorkflowInstance):
    """A sandboxed instance; the contexts that are the workflow's own are built here, once."""

    def __init__(self, sandboxed: WorkflowInstance, info: Info) -> None:
        self.sandboxed = sandboxed
        self.serialization = temporalio.converter.WorkflowSerializationContext(
            namespace=info.namespace, workflow_id=info.workflow_id)
        self.store = temporalio.converter.StorageDriverStoreContext(target=temporalio.converter.StorageDriverWorkflowInfo(
            id=info.workflow_id, run_id=info.run_id, type=info.workflow_type, namespace=info.namespace))

    def activate(self, act: WorkflowActivation) -> WorkflowActivationCompletion:
        return self.sandboxed.activate(act)

    def get_serialization_context(self, command_info) -> temporalio.converter.SerializationContext | None:  # type: ignore[no-untyped-def]
        if command_info is None or command_info.command_type not in _SERIALIZED_FOR_ANOTHER:
            return self.serialization
        return self.sandboxed.get_serialization_context(command_info)

    def get_external_store_context(self, command_info) -> temporalio.converter.StorageDriverStoreContext:  # type: ignore[no-untyped-def]
        if command_info is None or command_info.command_type not in _STORED_FOR_ANOTHER:
            return self.store
        return self.sandboxed.get_external_store_context(command_info)

    def get_info(self) -> Info:
        return self.sandboxed.get_info()

    def get_thread_id(self) -> int | None:
        return self.sandboxed.get_thread_id()


RUNNER = Runner(restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSED_THROUGH))
