"""The workflow runner: the SDK's sandbox, with the engine's modules imported once, and the
payload contexts answered outside it.

Before it encodes or decodes a payload, the worker asks the workflow instance for the payload's
serialization context and external-store context, once per payload list and visit (four visits
an activation). The sandboxed instance answers each question by running code inside the sandbox
(``exec`` under the sandbox's importer), about 0.1-0.3 ms a time: profiled, that was 14 % of the
bench's busy CPU, more than the routing step's SQL (issue 14).

- Serialization: the engine's converter (``pydantic_data_converter``: no codec, no component that
  takes a context) encodes the same whatever the context: ``with_context`` hands it back
  unchanged. For such a converter (``Runner.for_converter`` checks it) the answer is None, which
  the SDK reads as "encode with the converter as it is", the very converter every context would
  have given. Any other converter is answered by the sandbox, as the SDK does.
- External store: for a payload of no command, or of a command that is not about another
  workflow, the SDK's answer is the workflow's own target (its namespace, id, run and type),
  built here once per instance; the other commands (and a completion, whose result a child
  stores for its parent) still ask the sandbox. ``tests/test_runner.py`` replays every recorded
  history checking each answer against the sandbox's own, so an SDK whose rules change fails
  there, not in production.
- One payload converter for every instance: the SDK builds a converter per workflow instance (for
  the engine's, a pydantic serializer and a type-adapter cache, about 6 kB and 0.2 ms a time, paid
  again by every replay). A converter that takes no context is shared: it keeps no per-workflow
  state (its type-adapter cache is shared the better), so every instance gets the first one built.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import temporalio.converter
from temporalio.api.enums.v1 import CommandType
from temporalio.converter import (ActivitySerializationContext, DataConverter, PayloadConverter,
                                  WorkflowSerializationContext)
from temporalio.contrib.pydantic import pydantic_data_converter
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

# Commands whose payloads are stored for another workflow (the SDK's
# ``_WorkflowInstanceImpl.get_external_store_context``).
_STORED_FOR_ANOTHER = frozenset({
    CommandType.COMMAND_TYPE_START_CHILD_WORKFLOW_EXECUTION, CommandType.COMMAND_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION,
    CommandType.COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION})  # a child's result is stored for its parent


def ignores_contexts(converter: DataConverter) -> bool:
    """Whether ``converter`` encodes the same under any serialization context: ``with_context``
    gives it back unchanged for a workflow's and an activity's (no codec or converter takes one)."""
    contexts = (WorkflowSerializationContext(namespace="n", workflow_id="w"),
                ActivitySerializationContext(namespace="n", activity_id="1", activity_type="a",
                                             activity_task_queue="q", workflow_id="w", workflow_type="t",
                                             is_local=True))
    return all(converter.with_context(context) is converter for context in contexts)


@dataclasses.dataclass(frozen=True)
class Runner(SandboxedWorkflowRunner):
    """``SandboxedWorkflowRunner`` (it is one: plugins that extend a sandbox's restrictions still
    see it) whose instances answer the workflow's own store target themselves, and no
    serialization context at all with ``contexts_unused`` (a converter that ignores them:
    ``for_converter``), and then share one payload converter."""

    contexts_unused: bool = False
    _made: list[Any] = dataclasses.field(default_factory=list, compare=False, repr=False)  # [factory, converter]

    @classmethod
    def for_converter(cls, converter: DataConverter, **options: object) -> Runner:
        return cls(contexts_unused=ignores_contexts(converter), **options)  # type: ignore[arg-type]

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        if self.contexts_unused:
            det = dataclasses.replace(det, payload_converter_factory=self.shared(det.payload_converter_factory))
        return OwnContexts(super().create_instance(det), det.info, contexts_unused=self.contexts_unused)

    def shared(self, factory: Callable[[], PayloadConverter]) -> Callable[[], PayloadConverter]:
        """A factory answering the one converter ``factory`` made first (a new one if the worker's
        converter is another: bound methods are equal only on the same data converter)."""
        made = self._made
        if not made or made[0] != factory:
            made[:] = [factory, factory()]  # two threads racing here build two: either is right
        converter = made[1]
        return lambda: converter


class OwnContexts(WorkflowInstance):
    """A sandboxed instance; the workflow's own store target is built here, once."""

    def __init__(self, sandboxed: WorkflowInstance, info: Info, *, contexts_unused: bool = False) -> None:
        self.sandboxed, self.contexts_unused = sandboxed, contexts_unused
        self.store = temporalio.converter.StorageDriverStoreContext(target=temporalio.converter.StorageDriverWorkflowInfo(
            id=info.workflow_id, run_id=info.run_id, type=info.workflow_type, namespace=info.namespace))

    def activate(self, act: WorkflowActivation) -> WorkflowActivationCompletion:
        return self.sandboxed.activate(act)

    def get_serialization_context(self, command_info) -> temporalio.converter.SerializationContext | None:  # type: ignore[no-untyped-def]
        return None if self.contexts_unused else self.sandboxed.get_serialization_context(command_info)

    def get_external_store_context(self, command_info) -> temporalio.converter.StorageDriverStoreContext:  # type: ignore[no-untyped-def]
        if command_info is None or command_info.command_type not in _STORED_FOR_ANOTHER:
            return self.store
        return self.sandboxed.get_external_store_context(command_info)

    def get_info(self) -> Info:
        return self.sandboxed.get_info()

    def get_thread_id(self) -> int | None:
        return self.sandboxed.get_thread_id()


RUNNER = Runner.for_converter(pydantic_data_converter,
                              restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSED_THROUGH))
