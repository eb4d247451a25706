"""Every reward's return, checked on every batch before TRL sees it.

TRL's contract: a reward function returns one number per completion, or ``None`` for a
completion it cannot score (TRL leaves it out of that reward's mean). What TRL does with anything
else is silent or far from its cause: NaN trains with null metrics, +inf with a zero gradient
norm, a string or a bare ``None`` ends in a traceback that does not name the reward.

So every reward, ArGen's own and the user's, is wrapped here (:func:`checked_reward`) and each
return is checked: a list-like of exactly one entry per completion, each a finite real number or
``None``. ``None`` for every completion of a batch is allowed (it is what TRL's contract says
for a reward that can score none of them, e.g. a judge outage, which the scorer's own
``judge.max_error_rate`` already stops); it is logged once per reward. A violation stops the run
with one line naming the reward's key and what it returned (:class:`RewardError`, exit status 2);
the whole return value, and the reward's own traceback when it raised, go to the run's error log
(``RUN_DIR/error.txt``), which the line names.
"""

from __future__ import annotations

import inspect
import logging
import math
import numbers
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from argen.data.atomic import write_atomic
from argen.errors import ArgenError

log = logging.getLogger(__name__)

_CONTRACT = "each reward must be a finite number, or None to leave a completion out"


class RewardError(ArgenError):
    """A reward function broke TRL's contract (or raised); the message names its config key."""


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _number(value: Any) -> float | None:
    """``value`` as a float when it is a real number (numpy and 0-d tensor scalars included), else None."""
    if isinstance(value, (str, bytes)):
        return None
    if not isinstance(value, numbers.Real) and getattr(value, "ndim", None) == 0 and hasattr(value, "item"):
        value = value.item()  # a numpy 0-d array or a one-element torch tensor
    if isinstance(value, numbers.Real):
        return float(value)
    return None


class RewardCheck:
    """Checks the returns of one reward (its config key ``name``) and records violations in ``error_log``."""

    def __init__(self, name: str, error_log: str | Path | None = None):
        self.name = name
        self.error_log = Path(error_log) if error_log is not None else None
        self._warned_all_none = False

    @property
    def label(self) -> str:
        return f"reward '{self.name}' (reward.functions.{self.name})"

    def values(self, value: Any, kwargs: Mapping[str, Any]) -> list[float | None]:
        """The checked rewards as plain floats and Nones; a :class:`RewardError` on any violation."""
        n = len(kwargs.get("completions") or kwargs.get("prompts") or [])
        if value is None or isinstance(value, (str, bytes, Mapping)) or not hasattr(value, "__len__"):
            raise self._error(f"returned {_short(value)} ({type(value).__name__}) instead of a list of {n} rewards, "
                              "one per completion", value, kwargs)
        items = list(value)
        if len(items) != n:
            raise self._error(f"returned {len(items)} rewards for {n} completions (one per completion expected)",
                              value, kwargs)
        out: list[float | None] = []
        for i, item in enumerate(items):
            if item is None:
                out.append(None)
                continue
            number = _number(item)
            if number is None:
                raise self._error(f"returned {_short(item)} ({type(item).__name__}) for completion {i + 1} of {n}: "
                                  f"{_CONTRACT}", value, kwargs)
            if not math.isfinite(number):
                raise self._error(f"returned {number} for completion {i + 1} of {n}: {_CONTRACT}", value, kwargs)
            out.append(number)
        if n and all(v is None for v in out) and not self._warned_all_none:
            self._warned_all_none = True
            log.warning("%s returned None for every completion of a batch%s (allowed: TRL leaves them out of its mean)",
                        self.label, _at_step(kwargs))
        return out

    def raised(self, exc: BaseException, kwargs: Mapping[str, Any]) -> RewardError:
        """The one-line error for a reward that raised; its traceback goes to the error log."""
        first = str(exc).splitlines()[0][:200] if str(exc) else ""
        return self._error(f"raised {type(exc).__name__}{': ' + first if first else ''}", None, kwargs,
                           "".join(traceback.format_exception(exc)))

    def _error(self, what: str, value: Any, kwargs: Mapping[str, Any], trace: str | None = None) -> RewardError:
        message = f"{self.label}{_at_step(kwargs)} {what}"
        where = self._record(message, value, trace)
        if where is not None:
            message += f"; {'its traceback' if trace else 'what it returned'} is in {where}"
        return RewardError(message)

    def _record(self, message: str, value: Any, trace: str | None) -> Path | None:
        """Write the details to the error log; None when there is none or it cannot be written."""
        if self.error_log is None:
            return None
        text = message + "\n"
        if trace is not None:
            text += "\nThe reward's traceback:\n" + trace
        else:
            body = repr(value)
            text += "\nIt returned:\n" + (body if len(body) <= 100_000 else body[:100_000] + " ...")
        try:
            write_atomic(self.error_log, text.rstrip("\n") + "\n")
        except OSError:  # a full disk must not hide the reward's own error
            return None
        return self.error_log


def _at_step(kwargs: Mapping[str, Any]) -> str:
    state = kwargs.get("trainer_state")
    step = getattr(state, "global_step", None)
    return f" at step {step + 1}" if isinstance(step, int) else ""


def checked_reward(func: Callable, name: str, error_log: str | Path | None = None) -> Callable:
    """``func`` behind the contract check, named ``name`` (TRL logs rewards/<name>/mean), async if it was.

    ArGen's own errors (a judge over ``judge.max_error_rate``) pass through as they are; any other
    exception the reward raises becomes a :class:`RewardError` naming it.
    """
    check = RewardCheck(name, error_log)
    call = func.__call__ if not inspect.isfunction(func) and not inspect.ismethod(func) else func
    target = getattr(func, "func", None)  # a functools.partial
    if inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(call) or inspect.iscoroutinefunction(target):

        async def async_reward(**kwargs: Any) -> list[float | None]:
            try:
                value = await func(**kwargs)
            except ArgenError:
                raise
            except Exception as exc:  # noqa: BLE001 - the user's reward: named in one line, traceback logged
                raise check.raised(exc, kwargs) from exc
            return check.values(value, kwargs)

        async_reward.__name__ = name
        return async_reward

    def reward(**kwargs: Any) -> list[float | None]:
        try:
            value = func(**kwargs)
        except ArgenError:
            raise
        except Exception as exc:  # noqa: BLE001 - the user's reward: named in one line, traceback logged
            raise check.raised(exc, kwargs) from exc
        return check.values(value, kwargs)

    reward.__name__ = name
    return reward


__all__ = ["RewardCheck", "RewardError", "checked_reward"]
