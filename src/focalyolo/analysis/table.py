"""Result tables: one list of row dicts, printed as aligned text and written as CSV and Markdown."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

__all__ = ["Column", "read_csv", "render_markdown", "render_text", "write_csv", "write_report"]


@dataclass(frozen=True)
class Column:
    """A table column: the row key, its header, and how a value prints (``fmt`` is a format spec or a callable)."""

    key: str
    header: str
    fmt: str | Callable[[Any], str] = ""

    def text(self, value: Any) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "–"
        if callable(self.fmt):
            return self.fmt(value)
        return format(value, self.fmt) if self.fmt else str(value)


def render_text(rows: list[dict[str, Any]], columns: list[Column]) -> str:
    """Aligned plain-text table (text columns left-aligned, numbers right-aligned)."""
    cells = [[c.header for c in columns]] + [[c.text(row.get(c.key)) for c in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    numeric = [all(isinstance(r.get(c.key), (int, float)) or r.get(c.key) is None for r in rows) for c in columns]
    lines = []
    for line in cells:
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(line, widths, numeric)]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def render_markdown(rows: list[dict[str, Any]], columns: list[Column]) -> str:
    """GitHub-flavoured Markdown table (numbers right-aligned)."""
    numeric = [all(isinstance(r.get(c.key), (int, float)) or r.get(c.key) is None for r in rows) for c in columns]
    lines = ["| " + " | ".join(c.header for c in columns) + " |",
             "| " + " | ".join("---:" if num else "---" for num in numeric) + " |"]
    lines += ["| " + " | ".join(c.text(row.get(c.key)) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def write_csv(rows: list[dict[str, Any]], path: str | Path, keys: list[str] | None = None) -> Path:
    """Write the rows' raw values (full precision) to CSV; ``keys`` fixes the column order."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = keys or list(dict.fromkeys(k for row in rows for k in row))
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=keys, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def read_csv(path: str | Path) -> list[dict[str, str]]:
    """The rows of a CSV file written by :func:`write_csv` (values as strings)."""
    with Path(path).open(newline="") as handle:
        return list(csv.DictReader(handle))


def write_report(out_dir: str | Path, stem: str, title: str, notes: list[str], rows: list[dict[str, Any]],
                 columns: list[Column], csv_keys: list[str] | None = None) -> tuple[Path, Path]:
    """Write ``<stem>.csv`` (raw values) and ``<stem>.md`` (title, notes as bullet lines, the table)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path = write_csv(rows, out_dir / f"{stem}.csv", csv_keys)
    body = [f"# {title}", ""] + [f"- {note}" for note in notes] + ["", render_markdown(rows, columns), ""]
    md_path = out_dir / f"{stem}.md"
    md_path.write_text("\n".join(body))
    return csv_path, md_path
