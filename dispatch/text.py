"""Free text on the wire: bounded, and without the characters nothing downstream can hold."""

from __future__ import annotations

from typing import Annotated, Final

from msgspec import Meta

# Free text: any character but NUL and the other C0 controls except tab and newlines (PostgreSQL cannot store NUL in
# text or jsonb; a message it cannot store must be refused at the door, not acked and then stuck; found by fuzzing).
_TEXT: Final = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f]*$"
ShortText = Annotated[str, Meta(max_length=200, pattern=_TEXT)]
LongText = Annotated[str, Meta(max_length=4000, pattern=_TEXT)]
