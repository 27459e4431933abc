"""What every process of the project shares (worker, gateway, CLI): its settings from the
environment, the Temporal connection, and the operations on conversations and heroes that go
through Temporal. Below the processes (``worker``, ``gateway``, ``switchboard``), above the
workflows: nothing here imports a process."""
