"""``policy.effects`` on its own: how a value is read, what each bad value is told, and how an
effect describes itself (the policies docs and the run log print it)."""

from __future__ import annotations

import pytest

from argen.errors import ConfigError
from argen.policy.effects import SEVERITIES, Effect, EffectTable


@pytest.mark.parametrize("value,expected", [
    ("report", Effect(1.0, None)),
    ({}, Effect(1.0, None)),
    ({"multiply": 0.5}, Effect(0.5, None)),
    ({"cap": 0.2}, Effect(1.0, 0.2)),  # multiply defaults to 1: a cap alone
    ({"multiply": 0, "cap": 1}, Effect(0.0, 1.0)),  # the ends of [0, 1] are allowed, ints too
    ({"multiply": 1, "cap": None}, Effect(1.0, None)),
])
def test_an_effect_is_report_or_multiply_and_cap(value, expected):
    effect = Effect.parse(value, "policy.effects.major")
    assert effect == expected
    assert isinstance(effect.multiply, float) and (effect.cap is None or isinstance(effect.cap, float))


@pytest.mark.parametrize("effect,report_only,text", [
    (Effect(), True, "report"),
    (Effect(0.5), False, "x0.5"),
    (Effect(1.0, 0.2), False, "cap 0.2"),
    (Effect(0.85, 0.25), False, "x0.85, cap 0.25"),
    (Effect(0.0, 0.0), False, "x0, cap 0"),
])
def test_an_effect_describes_itself(effect, report_only, text):
    assert effect.report_only is report_only
    assert effect.describe() == text


@pytest.mark.parametrize("value,key,message", [
    ("halve", "policy.effects.major", "must be 'report' or a mapping {multiply: f, cap: c}, got 'halve'"),
    (0.5, "policy.effects.major", "must be 'report' or a mapping {multiply: f, cap: c}, got 0.5"),
    ({"multiply": 0.5, "scale": 2}, "policy.effects.major.scale", "unknown effect; use multiply and/or cap"),
    ({"multiply": "half"}, "policy.effects.major.multiply", "must be a number in [0, 1], got 'half'"),
    ({"multiply": True}, "policy.effects.major.multiply", "must be a number in [0, 1], got True"),
    ({"multiply": None}, "policy.effects.major.multiply", "must be a number in [0, 1], got None"),
    ({"multiply": 1.5}, "policy.effects.major.multiply", "must be in [0, 1], got 1.5"),
    ({"multiply": -0.1}, "policy.effects.major.multiply", "must be in [0, 1], got -0.1"),
    ({"cap": 2}, "policy.effects.major.cap", "must be in [0, 1], got 2"),
    ({"cap": "low"}, "policy.effects.major.cap", "must be a number in [0, 1], got 'low'"),
])
def test_a_bad_effect_names_its_key_and_says_what_is_wrong(value, key, message):
    with pytest.raises(ConfigError) as err:
        Effect.parse(value, "policy.effects.major")
    assert err.value.key == key
    assert str(err.value) == f"config key '{key}': {message}"


def test_a_missing_table_reports_only():
    for node in (None, {}):
        table = EffectTable.from_config(node)
        assert table.by_severity == {s: Effect() for s in SEVERITIES} and table.by_id == {}
    assert EffectTable() == EffectTable.from_config(None)


def test_a_missing_severity_reports_only_and_overrides_win_by_id():
    table = EffectTable.from_config({"major": {"multiply": 0.5}, "by_id": {"cure_promise": {"cap": 0.1}, "s3": "report"}})
    assert table.by_severity == {"minor": Effect(), "major": Effect(0.5)}
    assert table.effect("cure_promise", "major") == Effect(1.0, 0.1)
    assert table.effect("s3", "major") == Effect()
    assert table.effect("other", "major") == Effect(0.5)
    assert table.effect("other", "minor") == Effect()


@pytest.mark.parametrize("node,key,message", [
    ({"severe": "report"}, "policy.effects.severe", "unknown key; expected minor, major or by_id"),
    ({"by_id": ["cure_promise"]}, "policy.effects.by_id", "must be a mapping of policy id -> effect"),
    ({"by_id": {"cure_promise": "halve"}}, "policy.effects.by_id.cure_promise",
     "must be 'report' or a mapping {multiply: f, cap: c}, got 'halve'"),
    ({"minor": {"multiply": 2}}, "policy.effects.minor.multiply", "must be in [0, 1], got 2"),
])
def test_a_bad_table_names_its_key(node, key, message):
    with pytest.raises(ConfigError) as err:
        EffectTable.from_config(node)
    assert str(err.value) == f"config key '{key}': {message}"


def test_the_prefix_names_where_the_table_came_from():
    with pytest.raises(ConfigError) as err:
        EffectTable.from_config({"minor": {"cap": 3}}, prefix="audit.effects")
    assert err.value.key == "audit.effects.minor.cap"
