"""SIGTERM/SIGINT (cluster preemption, Ctrl-C): finish the step, save a checkpoint, exit cleanly.

The first signal only sets a flag (and says so on stderr); the callback acts at the next step
boundary, so a checkpoint is never taken from a half-updated model. All ranks agree on stopping
(an all-reduce of the flag), or one rank would wait forever for the others.

A second signal stops at once: the handler raises :class:`StopNow` in the main thread, wherever
it is (generating, in a reward function, saving), and the run keeps its last complete checkpoint
(a save cut short has no completeness marker, so it never counts). It used to fall back to the
previous handler, which did not stop at once: a process started in the background of a
non-interactive shell ignores SIGINT (so the step, and its save, went on), and elsewhere the
KeyboardInterrupt ended in a traceback with nothing recorded. A third signal gets the default
action (the process ends there and then).
"""

from __future__ import annotations

import contextlib
import os
import signal
from types import FrameType

from transformers import TrainerCallback

from argen.reporting.console_output import console


class StopNow(BaseException):
    """A second SIGTERM/SIGINT: stop training now (a BaseException, so no ``except Exception`` in a
    library or a reward function swallows it)."""


class PreemptionGuard:
    """Installs the handlers and remembers which signal arrived (and whether a second one did)."""

    def __init__(self, signals: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT)):
        self.signals = signals
        self.received: int | None = None
        self.stopped_now: int | None = None
        self._previous: dict[int, object] = {}

    def install(self) -> "PreemptionGuard":
        for sig in self.signals:
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: leave signals alone
                pass
        return self

    def restore(self) -> None:
        if self.stopped_now is None:  # after a stop at once, the next signal keeps the default action
            for sig, handler in self._previous.items():
                signal.signal(sig, handler)  # type: ignore[arg-type]
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.received is None:
            self.received = signum
            # os.write: print() is not safe in a signal handler (it may interrupt another print).
            # The terminal's fd, not fd 2: while the console is quiet, fd 2 is the run's log file.
            word = (f"argen: {name} received: stopping at the end of this step, with a checkpoint; "
                    f"send it again to stop at once\n").encode()
            for fd in {_console_fd(), 2}:
                with contextlib.suppress(OSError):
                    os.write(fd, word)
            return
        self.stopped_now = signum
        for sig in self.signals:  # a third signal: the default action, whatever was there before
            signal.signal(sig, signal.SIG_DFL)
        raise StopNow(name)

    @property
    def name(self) -> str:
        """The signal that stopped the run: the second one when it stopped at once."""
        signum = self.stopped_now or self.received
        return signal.Signals(signum).name if signum else ""


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


def _console_fd() -> int:
    """The file descriptor of ArGen's console (the terminal, even while fd 2 is the run's log)."""
    try:
        return console().fileno()
    except (OSError, ValueError, AttributeError):  # a closed or fd-less stream: plain stderr
        return 2
