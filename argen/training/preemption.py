"""SIGTERM/SIGINT (cluster preemption, Ctrl-C): finish the step, save a checkpoint, exit cleanly.

The handler only sets a flag; the callback acts at the next step boundary, so a checkpoint is
never taken from a half-updated model. All ranks agree on stopping (an all-reduce of the flag),
or one rank would wait forever for the others. A second signal falls back to the default
behaviour, so an impatient Ctrl-C still stops the process at once.
"""

from __future__ import annotations

import signal
from types import FrameType

from transformers import TrainerCallback


class PreemptionGuard:
    """Installs the handlers and remembers which signal arrived."""

    def __init__(self, signals: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT)):
        self.signals = signals
        self.received: int | None = None
        self._previous: dict[int, object] = {}

    def install(self) -> "PreemptionGuard":
        for sig in self.signals:
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: leave signals alone
                pass
        return self

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received = signum
        # The next signal of this kind gets the previous behaviour (e.g. KeyboardInterrupt).
        signal.signal(signum, self._previous.get(signum, signal.SIG_DFL))  # type: ignore[arg-type]

    @property
    def name(self) -> str:
        return signal.Signals(self.received).name if self.received else ""


class PreemptionCallback(TrainerCallback):
    """At the end of a step after a signal: save a checkpoint and stop training, on every rank."""

    def __init__(self, guard: PreemptionGuard):
        self.guard = guard
        self.stopped_at: int | None = None

    def on_step_end(self, args, state, control, **kwargs):
        if self._any_rank_signalled():
            control.should_save = True
            control.should_training_stop = True
            self.stopped_at = state.global_step
        return control

    def _any_rank_signalled(self) -> bool:
        flag = self.guard.received is not None
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            import torch

            tensor = torch.tensor([1.0 if flag else 0.0])
            if dist.get_backend() == "nccl":
                tensor = tensor.cuda()
            dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
            return bool(tensor.item() > 0)
        return flag
