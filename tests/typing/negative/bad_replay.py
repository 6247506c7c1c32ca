"""Record and replay take a path and flags, and a Replay is not a Recording."""

from asynq_core.tracing import Recording, record, replay

record(capture="yes")  # error: mypy[arg-type] pyright[reportArgumentType]
replay(42)  # error: mypy[arg-type] pyright[reportArgumentType]
replay("calls.jsonl", check_rounds=None)  # error: mypy[arg-type] pyright[reportArgumentType]
# error: mypy[assignment] pyright[reportAssignmentType]
recording: Recording = replay("calls.jsonl")
