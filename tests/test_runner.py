"""The worker's workflow runner (``service.runner``): every payload context it answers outside the
sandbox is the one the sandboxed workflow gives, on every recorded history, and it still is the
SDK's sandbox."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import CommandType
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import PydanticPayloadConverter, pydantic_data_converter
from temporalio.converter import PayloadCodec, SerializationContext, WithSerializationContext
from temporalio.worker import Replayer, WorkflowInstance, WorkflowInstanceDetails
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from service.runner import PASSED_THROUGH, RUNNER, OwnContexts, Runner, ignores_contexts
from test_replay import HISTORIES, SWEEPS, load
from workflows.conversation import Conversation
from workflows.reconciler import Reconciler


async def every_history() -> AsyncIterator[WorkflowHistory]:
    for path in HISTORIES + SWEEPS:
        yield load(path)


class Checked(OwnContexts):
    """Answers the store target as the worker's runner does, and asks the sandbox too, keeping
    every disagreement."""

    answered: Counter[str] = Counter()
    disagreements: list[str] = []

    def get_external_store_context(self, command_info: Any) -> Any:
        ours = super().get_external_store_context(command_info)
        sandbox = self.sandboxed.get_external_store_context(command_info)
        command = "none" if command_info is None else CommandType.Name(command_info.command_type)
        self.answered[command] += 1
        if ours != sandbox:
            self.disagreements.append(f"store target for command {command}: ours {ours!r}, the sandbox's {sandbox!r}")
        return sandbox


class CheckingRunner(Runner):
    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        return Checked(SandboxedWorkflowRunner.create_instance(self, det), det.info)


async def test_the_store_targets_answered_outside_the_sandbox_are_the_sandboxs_own():
    Checked.answered.clear()
    Checked.disagreements.clear()
    replayer = Replayer(workflows=[Conversation, Reconciler], data_converter=pydantic_data_converter,
                        workflow_runner=CheckingRunner(restrictions=RUNNER.restrictions))
    results = await replayer.replay_workflows(every_history(), raise_on_replay_failure=False)
    assert not results.replay_failures, results.replay_failures
    assert Checked.disagreements == []
    asked = Checked.answered
    # Payloads of no command (activation inputs), of the workflow's own commands (local activities,
    # updates' results) and of its completion (which the sandbox still answers) were all compared.
    assert asked["none"] > 100 and asked["COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK"] > 0, asked
    assert asked["COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION"] > 0, asked


def test_the_worker_runs_workflows_in_the_sdks_sandbox_with_the_engine_passed_through():
    assert isinstance(RUNNER, SandboxedWorkflowRunner)
    assert set(PASSED_THROUGH) <= RUNNER.restrictions.passthrough_modules


class ContextCodec(PayloadCodec, WithSerializationContext):
    """A codec that takes the serialization context (an encryption key per workflow would)."""

    def __init__(self, context: SerializationContext | None = None) -> None:
        self.context = context

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)

    def with_context(self, context: SerializationContext) -> ContextCodec:
        return ContextCodec(context)


def test_no_context_is_asked_for_the_engines_converter_which_ignores_them():
    """``pydantic_data_converter`` encodes the same under every context, so the worker's runner
    answers None (encode with the converter as it is) without asking the sandbox; a converter
    with a codec that takes contexts gets them, asked as before."""
    assert ignores_contexts(pydantic_data_converter) and RUNNER.contexts_unused
    with_codec = dataclasses.replace(pydantic_data_converter, payload_codec=ContextCodec())
    assert not ignores_contexts(with_codec)
    assert not Runner.for_converter(with_codec, restrictions=RUNNER.restrictions).contexts_unused


async def test_every_recorded_history_replays_on_the_workers_runner():
    replayer = Replayer(workflows=[Conversation, Reconciler], data_converter=pydantic_data_converter,
                        workflow_runner=RUNNER)
    results = await replayer.replay_workflows(every_history(), raise_on_replay_failure=False)
    assert not results.replay_failures, results.replay_failures


class Counted(PydanticPayloadConverter):
    """The engine's payload converter, counting how many are built."""

    built = 0

    def __init__(self) -> None:
        type(self).built += 1
        super().__init__()


async def test_every_workflow_instance_shares_one_payload_converter():
    """The SDK builds a payload converter for every workflow instance it starts or replays (the
    engine's: a pydantic serializer and a type-adapter cache, about 6 kB of a cached conversation
    and 0.2 ms a time); the worker's runner hands every instance the first one built. Replayed on
    the runner and on one that does not share (the SDK builds converters for its own data
    converters too: those are the same in both), every recorded history on a new instance."""
    converter = dataclasses.replace(pydantic_data_converter, payload_converter_class=Counted)
    built = {}
    for sharing in (True, False):
        runner = Runner(contexts_unused=sharing, restrictions=RUNNER.restrictions)
        Counted.built = 0
        replayer = Replayer(workflows=[Conversation, Reconciler], data_converter=converter, workflow_runner=runner)
        results = await replayer.replay_workflows(every_history(), raise_on_replay_failure=False)
        assert not results.replay_failures, results.replay_failures
        built[sharing] = Counted.built
    instances = len(HISTORIES + SWEEPS)
    assert instances >= 20 and built[False] - built[True] == instances - 1, (built, instances)


def test_the_shared_payload_converter_is_the_one_of_the_workers_own_data_converter():
    """One converter per data converter: a factory of another data converter gets its own."""
    runner = Runner.for_converter(pydantic_data_converter, restrictions=RUNNER.restrictions)
    ours = runner.shared(pydantic_data_converter._new_payload_converter)
    assert ours() is ours() is runner.shared(pydantic_data_converter._new_payload_converter)()
    other = dataclasses.replace(pydantic_data_converter, payload_converter_class=Counted)
    assert isinstance(runner.shared(other._new_payload_converter)(), type(ours()))
    assert runner.shared(other._new_payload_converter)()._inner_payload_converter.__class__ is Counted
