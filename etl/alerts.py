"""Callbacks Airflow calls when something needs an engineer's eyes.

Kept free of heavy imports: the triggerer imports ``on_publish_deadline`` by path.
"""

from __future__ import annotations

import logging

log = logging.getLogger("mashaghel.alerts")


def failed_file(context: dict) -> tuple[str, str]:
    """(relative path, province folder) of the file a failed load task was working on."""
    task = context.get("task")
    kwargs = getattr(task, "op_kwargs", None) or {}
    relative_path = str(kwargs.get("relative_path") or "")
    if not relative_path:
        ti = context.get("ti")
        relative_path = str(getattr(ti, "rendered_map_index", "") or "")
    province = relative_path.split("/", 1)[0] if "/" in relative_path else "_"
    return relative_path or "(unknown file)", province


def on_file_task_failure(context: dict) -> None:
    """A file's load task failed for good: say which file, which province, and why."""
    relative_path, province = failed_file(context)
    ti = context.get("ti")
    log.error(
        "mashaghel: loading %s (province %s) failed after %s tries: %s. The file stays in the ingest folder; "
        "clear this task to retry it.",
        relative_path,
        province,
        getattr(ti, "try_number", "?"),
        context.get("exception"),
    )


async def on_publish_deadline(context: dict, **kwargs: object) -> None:
    """The national publish did not finish in time."""
    log.error(
        "mashaghel: publish_national_reporting missed its deadline (%s); context: %s",
        kwargs,
        {k: context.get(k) for k in ("dag_run", "deadline") if k in context},
    )
