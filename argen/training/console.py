"""The training console: one short line per logged step instead of transformers' dictionary.

transformers prints every logged row (about 40 keys with GRPO) through its ``ProgressCallback``
(or ``PrinterCallback`` when tqdm is off). :func:`use_compact_console` replaces whichever of them
the trainer holds with :class:`ConsoleCallback`, which prints::

    step 7/28 | reward 0.712 | ahimsa 0.650 dharma 0.910 helpfulness 0.540 | eval 0.634 | 21.4 s/step | ETA 7m29s

The full row still goes to ``metrics.jsonl`` (:class:`~argen.training.callbacks.MetricsFileCallback`)
and to the tracker (``report_to``): only what is printed changes.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from typing import Any

from transformers import TrainerCallback

from argen.reporting.console_output import console

# transformers' callbacks that print the logged dict (the notebook one is matched by name: importing
# it pulls in IPython).
_PRINTERS = ("ProgressCallback", "PrinterCallback", "NotebookProgressCallback")


def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s" if m else f"{s}s"


def format_line(logs: Mapping[str, Any], step: int, max_steps: int, s_per_step: float | None) -> str | None:
    """The console line of one logged row (None for a row with nothing to show).

    Training rows show the total reward and each reward function's mean (``rewards/<name>/mean``);
    rows with a periodic evaluation add ``eval`` (``eval/combined``); the row transformers logs when
    training ends shows the run time.
    """
    parts = [f"step {step}/{max_steps}"]
    if isinstance(logs.get("reward"), (int, float)):
        parts.append(f"reward {logs['reward']:.3f}")
        names = [k[len("rewards/"):-len("/mean")] for k in logs if k.startswith("rewards/") and k.endswith("/mean")]
        if names:
            parts.append(" ".join(f"{n} {logs[f'rewards/{n}/mean']:.3f}" for n in names
                                  if isinstance(logs[f"rewards/{n}/mean"], (int, float))))
    if isinstance(logs.get("eval/combined"), (int, float)):
        parts.append(f"eval {logs['eval/combined']:.3f}")
    if isinstance(logs.get("train_runtime"), (int, float)):
        parts.append(f"done in {_duration(logs['train_runtime'])}")
        return " | ".join(parts)
    if len(parts) == 1:
        return None
    if s_per_step is not None:
        parts.append(f"{s_per_step:.1f} s/step")
        parts.append(f"ETA {_duration(s_per_step * max(0, max_steps - step))}")
    return " | ".join(parts)


class ConsoleCallback(TrainerCallback):
    """Prints :func:`format_line` for every logged row on the main process, with a tqdm bar above
    it when stderr is a terminal (a log file gets the lines only)."""

    def __init__(self, stream=None, bar: bool | None = None):
        self.stream = stream
        self.bar_wanted = bar
        self.bar = None
        self._start: float | None = None
        self._start_step = 0

    def on_train_begin(self, args, state, control, **kwargs):
        # The clock starts after the baseline periodic evaluation (an earlier callback on this event).
        self._start, self._start_step = time.monotonic(), state.global_step
        stream = self.stream or console()
        wanted = self.bar_wanted if self.bar_wanted is not None else (stream.isatty() and not args.disable_tqdm)
        if state.is_world_process_zero and wanted:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=state.max_steps, initial=state.global_step, dynamic_ncols=True, file=stream)

    def on_step_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.update(state.global_step - self.bar.n)

    def s_per_step(self, step: int) -> float | None:
        """Mean wall seconds per step since training (or this resumed session) began."""
        if self._start is None or step <= self._start_step:
            return None
        return (time.monotonic() - self._start) / (step - self._start_step)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        line = format_line(logs, state.global_step, state.max_steps, self.s_per_step(state.global_step))
        if line is None:
            return
        if self.bar is not None:
            self.bar.write(line, file=self.stream or console())
        else:
            print(line, file=self.stream or sys.stdout, flush=True)

    def on_train_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def use_compact_console(trainer: Any, callback: ConsoleCallback | None = None) -> ConsoleCallback:
    """Swap the trainer's dict-printing callbacks for a :class:`ConsoleCallback`; returns it."""
    handler = trainer.callback_handler
    for cb in list(handler.callbacks):
        if type(cb).__name__ in _PRINTERS:
            handler.remove_callback(cb)
    callback = callback or ConsoleCallback()
    handler.add_callback(callback)
    return callback
