"""How the CLI writes: data as text the operator's terminal shows and never runs.

Names, labels and messages are typed by tenants (or sent by a server). Printed as they are,
Rich reads `[...]` as markup (`[/]x` raises, `[link=…]` plants a hyperlink) and `:name:` as
an emoji, and the terminal runs escape sequences. So every value goes out as a Rich `Text`
(no markup, emoji or highlighting) after `visible` spells out the characters that control
the terminal; JSON output writes the same characters as `\\u` escapes, which is the same JSON.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from dataclasses import asdict, is_dataclass
from datetime import datetime
from enum import Enum
from typing import Any

import orjson
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from zyntro.domain import format_timestamp

console = Console(markup=False, emoji=False, highlight=False)
error_console = Console(stderr=True, markup=False, emoji=False, highlight=False)

# Controls (C0, DEL, C1), the marks that reorder how a line is displayed, line separators.
_REORDERING = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029"
_UNSAFE = re.compile(f"[\x00-\x1f\x7f-\x9f{_REORDERING}]")
_UNSAFE_IN_JSON = re.compile(f"[\x7f-\x9f{_REORDERING}]")  # the JSON encoder escapes C0
_SPELLED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def visible(text: str) -> str:
    """`text` with every control character spelled out: ESC as `\\x1b`, U+202E as `\\u202e`."""
    return _UNSAFE.sub(_spelled, text)


def _spelled(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return _SPELLED.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def json_text(text: str) -> str:
    """Valid JSON text with DEL, C1 and reordering characters written as `\\u` escapes.

    The same JSON value: raw, those characters can only stand inside strings, where an
    escape means the same character. (C0 characters cannot stand raw in valid JSON.)
    """
    return _UNSAFE_IN_JSON.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def show(*lines: str, stderr: bool = False) -> None:
    """Each line as it reads, control characters spelled out (a line break too)."""
    for line in lines:
        (error_console if stderr else console).print(Text(visible(line)), soft_wrap=True)


def plain(value: Any) -> Any:
    """A JSON-ready version of domain objects (timestamps as the endpoint writes them)."""
    if is_dataclass(value) and not isinstance(value, type):
        return {k: plain(v) for k, v in asdict(value).items()}
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def emit_json(value: Any) -> None:
    sys.stdout.write(json_text(orjson.dumps(plain(value)).decode()) + "\n")


def emit(as_json: bool, value: dict[str, Any], *lines: str) -> None:
    """A created/changed object: one JSON object, or human lines."""
    if as_json:
        emit_json(value)
    else:
        show(*lines)


def emit_table(as_json: bool, rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    """A listing: a JSON array, or a table (records, one field a line, when it cannot fit)."""
    rows = [plain(row) for row in rows]
    if as_json:
        emit_json(rows)
        return
    print_rows(columns, [[row.get(c) for c in columns] for row in rows])


def is_id_column(name: str) -> bool:
    """Columns of ids (and key prefixes, and the audit log's actor): copied into the next
    command, so never cut."""
    return name.endswith("_id") or name in ("actor", "prefix")


def print_rows(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A table whose ids are never cut and whose headers are never split: other columns fold
    to fit the terminal; where even that cannot fit, each row is printed as a record."""
    if not rows:
        show("Nothing to list.")
        return
    cells = [[cell(value) for value in row] for row in rows]
    widths = column_widths(columns, cells, console.width)
    if widths is None:
        _print_records(columns, cells)
        return
    # Every width is decided here, so Rich lays nothing out: it never crops the table's right
    # edge (its own layout did, when a word was longer than a column's header).
    frame = Table(width=table_width(widths))
    for name, width in zip(columns, widths, strict=True):
        no_wrap = is_id_column(name)
        frame.add_column(name, width=width, no_wrap=no_wrap, overflow="fold")
    for row in cells:
        frame.add_row(*row)
    console.print(frame)


def table_width(widths: Sequence[int]) -> int:
    """Rich's default box: a border and one space of padding either side of every column."""
    return sum(widths) + 3 * len(widths) + 1


def column_widths(
    columns: Sequence[str], cells: Sequence[Sequence[Text]], limit: int
) -> list[int] | None:
    """The width of each column in a table at most `limit` wide, or None when none fits.

    Id columns are as wide as their longest id. The others get what they need to show their
    longest cell on one line when that fits; else at least their longest word (words wrap
    whole), else at least their header (long words fold); the room left is shared out to the
    columns that want more, narrowest first.
    """
    wanted, words, least = [], [], []
    for index, name in enumerate(columns):
        texts = [row[index].plain for row in cells]
        longest = max([len(name), *(cell_len(text) for text in texts)])
        wanted.append(longest)
        if is_id_column(name):
            words.append(longest)
            least.append(longest)
        else:
            word = max([len(name), *(cell_len(w) for t in texts for w in t.split())])
            words.append(word)
            least.append(len(name))
    room = limit - table_width([0] * len(columns))
    for floor in (wanted, words, least):
        if sum(floor) <= room:
            return _share(floor, wanted, room)
    return None


def _share(floor: Sequence[int], wanted: Sequence[int], room: int) -> list[int]:
    """`floor` widened toward `wanted` within `room`: the spare width is shared equally,
    and a column that needs less than its share gives the rest to the others."""
    widths = list(floor)
    spare = room - sum(widths)
    order = sorted(range(len(widths)), key=lambda i: wanted[i] - widths[i])
    for position, index in enumerate(order):
        give = min(wanted[index] - widths[index], spare // (len(order) - position))
        widths[index] += give
        spare -= give
    return widths


def _print_records(columns: Sequence[str], cells: Sequence[Sequence[Text]]) -> None:
    label = max(len(name) for name in columns)
    for number, row in enumerate(cells):
        if number:
            console.print()
        for name, value in zip(columns, row, strict=True):
            console.print(Text(f"{name.ljust(label)}  ") + value, soft_wrap=is_id_column(name))


def cell(value: Any) -> Text:
    if value is None:
        return Text("-")
    if isinstance(value, list):
        return Text(visible(", ".join(str(v) for v in value)))
    return Text(visible(str(value)))


def plural(count: int, noun: str) -> str:
    """`1 row`, `3 rows`: a count as a sentence says it."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def byte_size(count: int) -> str:
    """A size in bytes as a person reads it: 512 B, 1.5 KiB, 70.4 MiB, 1.4 GiB, 2.0 TiB."""
    if count < 1024:
        return f"{count} B"
    value = float(count)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if value < 1024:
            return f"{value:.1f} {unit}"
    return f"{value / 1024:.1f} TiB"
