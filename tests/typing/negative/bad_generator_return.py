"""Why ``-> Generator[Any, Any, T]`` is the spelling to prefer (see the README):
annotating a generator function ``-> T`` gives callers the right types, but
both checkers reject the function itself (pyright its yields too).
"""

from asynq_core import asynq


@asynq()
def get_name(uid: int) -> str:  # error: mypy[misc] pyright[reportInvalidTypeForm]
    yield None  # error: pyright[reportReturnType]
    return str(uid)


# Callers still see a str.
get_name(1).upper()
