"""Pure-Python tests of dbos_queue._serialization (no database)."""

from __future__ import annotations

import base64
import dataclasses
import inspect
import json
import math
import pickle
import socket
import sys
import uuid
from collections import OrderedDict
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from enum import Enum, IntEnum
from typing import Any, NamedTuple, cast
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict

from dbos_queue import error as dbos_errors
from dbos_queue.error import DBOSConfigError, DBOSSerializationError
from dbos_queue.model import serialization as ser
from tests.plugins.checks import must

TAG = ser.TAG


# --- application types, at module level so the reader can find them again ---------


class Color(Enum):
    RED = "red"
    BLUE = (1, 2)


class Level(IntEnum):
    LOW = 1
    HIGH = 2


@dataclasses.dataclass(frozen=True)
class Point:
    x: int
    y: int


@dataclasses.dataclass
class Box:
    item: Any
    label: str = "box"
    derived: int = dataclasses.field(init=False, default=0)

    def __post_init__(self) -> None:
        self.derived = 1


class Model(BaseModel):
    model_config = ConfigDict(extra="allow")
    x: Any = None
    n: int = 0


class Pair(NamedTuple):
    left: Any
    right: Any


class UserError(Exception):
    """A user exception; some tests set attributes on it after construction."""

    # Declared only (no class values): instances may carry them, hasattr stays False otherwise.
    sock_like: Any
    kept: Any
    self_ref: Any


class UserErrorWithInit(Exception):
    """Its __init__ does not accept its own args: pickle cannot rebuild it."""

    def __init__(self, code: int, detail: str):
        super().__init__(f"error {code}: {detail}")
        self.code = code
        self.detail = detail


class Plain:
    """An ordinary class instance: refused by the JSON format, fine for pickle."""

    def __init__(self, v: int = 1):
        self.v = v

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Plain) and other.v == self.v


@pytest.fixture(autouse=True)
def _reset_format():
    ser.configure(None)
    yield
    ser.configure(None)


def roundtrip(value: Any) -> Any:
    return ser.deserialize(ser.serialize(value))


def same(a: Any, b: Any) -> bool:
    """Equal, with identical types all the way down (and nan equal to nan)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return _same_float(a, b)
    if isinstance(a, Decimal):
        return str(a) == str(b)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, (set, frozenset)):
        return len(a) == len(b) and all(any(same(x, y) for y in b) for x in a)
    if isinstance(a, dict):
        return _same_dict(a, b)
    if isinstance(a, (datetime, time)):
        return (
            a.replace(tzinfo=None) == b.replace(tzinfo=None)
            and a.tzinfo == b.tzinfo
            and a.fold == b.fold
        )
    if dataclasses.is_dataclass(a):
        return all(same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
    if isinstance(a, BaseModel):
        return a.model_fields_set == b.model_fields_set and same(dict(a), dict(b))
    return a == b


def _same_float(a: float, b: float) -> bool:
    """Floats compare by value and sign of zero, with nan equal to nan."""
    if math.isnan(a):
        return math.isnan(b)
    return a == b and math.copysign(1, a) == math.copysign(1, b)


def _same_dict(a: dict[Any, Any], b: dict[Any, Any]) -> bool:
    """Each key of ``a`` matches exactly one key of ``b`` (by ``same``) with a same value."""
    if len(a) != len(b):
        return False
    for k, x in a.items():
        matches = [kb for kb in b if same(k, kb)]
        if len(matches) != 1 or not same(x, b[matches[0]]):
            return False
    return True


# --- hypothesis round trips -------------------------------------------------------

zones = st.none() | st.timezones() | st.just(timezone(timedelta(hours=-3, minutes=-30)))
hashables = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False),
        st.text(),
        st.binary(),
        st.uuids(),
        st.dates(),
        st.sampled_from(Color),
        st.sampled_from(Level),
        st.builds(Point, st.integers(), st.integers()),
        st.just(TAG),
    ),
    lambda c: st.tuples(c, c) | st.frozensets(c, max_size=3),
    max_leaves=5,
)
leaves = st.one_of(
    hashables,
    st.floats(),
    st.datetimes(timezones=zones),
    st.times(timezones=zones),
    st.timedeltas(),
    st.decimals(),
    st.binary().map(bytearray),
)
values = st.recursive(
    leaves,
    lambda c: st.one_of(
        st.lists(c, max_size=4),
        st.lists(c, max_size=4).map(tuple),
        st.dictionaries(st.text() | st.just(TAG) | st.just("v"), c, max_size=4),
        st.dictionaries(hashables, c, max_size=4),
        st.sets(hashables, max_size=4),
        st.frozensets(hashables, max_size=4),
        st.builds(Box, c),
        st.builds(Model, x=c, n=st.integers(-5, 5)),
        st.builds(Pair, c, c),
    ),
    max_leaves=20,
)
fast = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@fast
@given(values)
def test_roundtrip_preserves_values_and_types(value):
    text = ser.serialize(value)
    assert "\x00" not in text  # Postgres text cannot hold NUL
    assert same(ser.deserialize(text), value)


@fast
@given(st.lists(values, max_size=3), st.dictionaries(st.text() | st.just(TAG), values, max_size=3))
def test_args_roundtrip(args, kwargs):
    got_args, got_kwargs = ser.deserialize_args(ser.serialize_args(tuple(args), kwargs))
    assert same(got_args, tuple(args)) and same(got_kwargs, kwargs)


@fast
@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers(-(2**53), 2**53)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(),
        # (a dict with the tag as a key is stored escaped: not plain, see test_args_roundtrip)
        lambda c: (
            st.lists(c, max_size=4)
            | st.dictionaries(st.text().filter(lambda k: k != TAG), c, max_size=4)
        ),
        max_leaves=15,
    )
)
def test_plain_json_is_stored_as_plain_json(value):
    text = ser.serialize(value)
    assert json.loads(text) == value  # any JSON reader sees the same value
    assert same(ser.deserialize(json.dumps(value)), value)


@fast
@given(st.lists(st.lists(values, max_size=3), max_size=4))
def test_bulk_inputs_are_written_as_single_ones(arguments):
    assert ser.serialize_many_args(arguments) == [
        ser.serialize_args(tuple(a), {}) for a in arguments
    ]


# --- exact types and edge values ----------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        (1, 2),
        [1, 2],
        {1, 2},
        frozenset({1}),
        b"\x00\xff",
        bytearray(b"ab"),
        1,
        1.0,
        True,
        0,
        -0.0,
        float("inf"),
        float("-inf"),
        10**40,
        -(10**400),
        Decimal("1.10"),
        Decimal("-0"),
        uuid.UUID(int=5),
        date(2020, 2, 29),
        timedelta(days=-1, microseconds=3),
        datetime(2021, 3, 28, 2, 30, tzinfo=ZoneInfo("Europe/Paris")),  # imaginary time
        datetime(2021, 10, 31, 2, 30, fold=1, tzinfo=ZoneInfo("Europe/Paris")),  # second 2:30
        datetime(2021, 1, 1, tzinfo=timezone(timedelta(hours=5, minutes=45))),
        datetime(2021, 1, 1, 12, 0, 0, 123456),
        time(1, 2, 3, 4, tzinfo=ZoneInfo("Asia/Tokyo")),
        Color.BLUE,
        Level.HIGH,
        Point(1, 2),
        Pair(1, (2,)),
        {(1, 2): "t", Point(0, 0): [1]},
        "nul \x00 and surrogate \ud800",
        {"": None, "v": {"w": []}},
    ],
)
def test_exact_types(value):
    assert same(roundtrip(value), value)


def test_nan_and_big_int_are_tagged_not_bare():
    text = ser.serialize([float("nan"), 2**70])
    assert "NaN" not in text and str(2**70) not in text
    got = ser.deserialize(text)
    assert math.isnan(got[0]) and got[1] == 2**70 and type(got[1]) is int


def test_dataclass_restores_state_without_rerunning_init():
    box = Box([1, (2,)])
    box.derived = 7
    got = roundtrip(box)
    assert type(got) is Box and got.item == [1, (2,)] and got.derived == 7


def test_pydantic_keeps_nested_types_fields_set_and_extras():
    m = Model(x=Model(x=(1, 2)), extra_field={3})  # pyright: ignore[reportCallIssue]  # extra="allow"
    got = roundtrip(m)
    assert type(got) is Model and type(got.x) is Model and got.x.x == (1, 2)
    assert got.model_fields_set == {"x", "extra_field"} and got.extra_field == {3}  # pyright: ignore[reportAttributeAccessIssue]  # extra="allow"
    assert got.model_dump(exclude_unset=True) == m.model_dump(exclude_unset=True)


def test_plain_values_use_the_fast_path_output():
    value = {"a": [1, "b", None, 2.5], "c": {"d": True}}
    assert ser.serialize(value) == json.dumps(value, separators=(",", ":"))


# --- plain JSON from other producers, and the escape of the tag key ------------------


def test_plain_json_from_a_non_python_producer():
    assert ser.deserialize('{"a": [1, 2.5, null, true], "b": {"c": "d"}}') == {
        "a": [1, 2.5, None, True],
        "b": {"c": "d"},
    }
    assert ser.deserialize('"text"') == "text" and ser.deserialize("12") == 12
    assert ser.deserialize_args('{"args":[1,2],"kwargs":{}}') == ((1, 2), {})
    assert ser.deserialize_args('{"args":[1],"kwargs":{"k":[2]}}') == ((1,), {"k": [2]})
    assert ser.deserialize_args("[1, 2]") == ((1, 2), {})
    assert ser.deserialize_args('{"positionalArgs":[1],"namedArgs":{"a":2}}') == ((1,), {"a": 2})
    assert ser.deserialize_args(None) == ((), {})
    with pytest.raises(DBOSSerializationError, match="args"):
        ser.deserialize_args('"not args"')


def test_user_dict_with_the_tag_key_roundtrips():
    for value in (
        {TAG: "tuple", "v": [1, 2]},
        {TAG: "exception", "c": "builtins:ValueError"},
        [{TAG: 1}],
        {"outer": {TAG: {TAG: "map", "v": []}}},
    ):
        text = ser.serialize(value)
        assert same(ser.deserialize(text), value), text
    _args, kwargs = ser.deserialize_args(ser.serialize_args((), {TAG: "set", "v": [1]}))
    assert kwargs == {TAG: "set", "v": [1]}


def test_unknown_tag_reads_as_plain_dict():
    assert ser.deserialize('{"$dbq": "from-the-future", "v": 1}') == {
        "$dbq": "from-the-future",
        "v": 1,
    }


def test_corrupt_tagged_value_is_a_serialization_error():
    with pytest.raises(DBOSSerializationError, match="corrupt"):
        ser.deserialize('{"$dbq": "datetime", "v": "not a date"}')
    with pytest.raises(DBOSSerializationError, match="not valid JSON"):
        ser.deserialize("{oops")


def test_none():
    assert ser.serialize(None) == "null"
    assert ser.deserialize(None) is None and ser.deserialize("null") is None
    assert ser.deserialize_exception(None) is None


# --- exceptions ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "exc",
    [
        ValueError("bad", 2),
        KeyError("k"),
        ZeroDivisionError("division by zero"),
        OSError(2, "No such file or directory"),
        RuntimeError(),
        UserError("u", (1, 2)),
        UserErrorWithInit(7, "broken"),
        KeyboardInterrupt(),
        ser.PortableWorkflowError("m", "x.Y"),
    ],
)
def test_exception_roundtrip(exc):
    got = must(ser.deserialize_exception(ser.serialize_exception(exc)))
    assert type(got) is type(exc) and str(got) == str(exc) and same(got.args, exc.args)
    assert same(vars(got), vars(exc))


def test_oserror_attributes_survive():
    # errno/strerror come back through the constructor; ``filename`` lives in neither
    # args nor __dict__ and is not kept.
    got = ser.deserialize_exception(ser.serialize_exception(FileNotFoundError(2, "gone", "/x")))
    assert type(got) is FileNotFoundError and got.errno == 2 and got.strerror == "gone"


def _error_classes():
    return [
        c
        for _, c in inspect.getmembers(dbos_errors, inspect.isclass)
        if issubclass(c, BaseException) and c.__module__ == dbos_errors.__name__
    ]


def _sample(cls: type) -> BaseException:
    sample = {"int": 3, "float": 1.5, "Optional[int]": 4}
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    return cls(
        *[
            sample.get(p.annotation, f"{p.name}-1")
            for p in params
            if p.default is inspect.Parameter.empty
        ]
    )


@pytest.mark.parametrize("cls", _error_classes(), ids=lambda c: c.__name__)
def test_every_dbos_error_roundtrips(cls):
    exc = _sample(cls)
    got = ser.deserialize_exception(ser.serialize_exception(exc))
    assert type(got) is cls and str(got) == str(exc) and vars(got) == vars(exc)


def test_named_dbos_errors():
    for exc in (
        dbos_errors.DBOSMaxStepRetriesExceeded("step", 3, [ValueError("x")]),
        dbos_errors.DBOSNotAuthorizedError("no"),
        dbos_errors.DBOSAwaitedWorkflowCancelledError("wf"),
    ):
        got = ser.deserialize_exception(ser.serialize_exception(exc))
        assert type(got) is type(exc) and str(got) == str(exc)
    # The loop's last exception: the type was asserted above.
    assert cast(dbos_errors.DBOSAwaitedWorkflowCancelledError, got).workflow_id == "wf"
    retries = cast(
        dbos_errors.DBOSMaxStepRetriesExceeded,
        ser.deserialize_exception(
            ser.serialize_exception(
                dbos_errors.DBOSMaxStepRetriesExceeded("step", 3, [ValueError("x")])
            )
        ),
    )
    assert retries.max_retries == 3 and type(retries.errors[0]) is ValueError


def test_exception_parts_that_cannot_be_stored_degrade():
    exc = UserError("ok", object())
    exc.sock_like = lambda: None  # dropped
    exc.kept = {1: (2,)}
    exc.self_ref = exc  # a cycle must not recurse forever
    got = ser.deserialize_exception(ser.serialize_exception(exc))
    assert type(got) is UserError and got.args[0] == "ok"
    assert got.args[1].startswith("<object object at")
    assert got.kept == {1: (2,)} and not hasattr(got, "sock_like")


def test_serialize_exception_never_raises():
    class Unprintable(Exception):
        def __str__(self):
            raise RuntimeError("no")

        def __repr__(self):
            raise RuntimeError("no")

    text = ser.serialize_exception(Unprintable())
    got = ser.deserialize_exception(text)
    assert isinstance(got, BaseException)


def test_exceptions_inside_values_roundtrip():
    got = roundtrip({"errors": [ValueError("a"), UserError("b")]})
    assert [type(e) for e in got["errors"]] == [ValueError, UserError]


def test_non_exception_error_rows_become_portable_errors():
    got = ser.deserialize_exception('{"name": "TypeError", "message": "from typescript"}')
    assert isinstance(got, ser.PortableWorkflowError) and str(got) == "from typescript"
    assert got.original_type == "TypeError"
    assert isinstance(ser.deserialize_exception('"just text"'), ser.PortableWorkflowError)


# --- classes that cannot be found when reading --------------------------------------


def test_missing_dataclass_pydantic_enum_namedtuple_fall_back(monkeypatch):
    text = ser.serialize([Box([1]), Model(x=(1,)), Color.RED, Pair(1, 2), {Point(1, 2)}])
    module = sys.modules[__name__]
    for name in ("Box", "Model", "Color", "Pair", "Point"):
        monkeypatch.delattr(module, name)
    box, model, color, pair, points = ser.deserialize(text)
    assert box == {"item": [1], "label": "box", "derived": 1}
    assert model == {"x": (1,), "n": 0}
    assert color == "red" and type(pair) is tuple and pair == (1, 2)
    assert points == [{"x": 1, "y": 2}]  # a dict is not hashable: the set becomes a list


def test_missing_exception_class_becomes_portable_error(monkeypatch):
    exc = UserErrorWithInit(5, "gone")
    text = ser.serialize_exception(exc)
    monkeypatch.delattr(sys.modules[__name__], "UserErrorWithInit")
    got = ser.deserialize_exception(text)
    assert type(got) is ser.PortableWorkflowError and isinstance(got, Exception)
    assert got.original_type == f"{__name__}.UserErrorWithInit"
    assert got.message == str(got) == "error 5: gone" and got.code == 5


def test_class_names_from_rows_are_never_imported():
    for mod in ("this", "antigravity"):  # both act visibly when imported
        assert mod not in sys.modules
        assert ser.deserialize(json.dumps({TAG: "dataclass", "c": f"{mod}:X", "v": {"a": 1}})) == {
            "a": 1
        }
        got = ser.deserialize_exception(
            json.dumps({TAG: "exception", "c": f"{mod}:Err", "args": ["m"], "str": "m", "dict": {}})
        )
        assert type(got) is ser.PortableWorkflowError and got.original_type == f"{mod}.Err"
        assert mod not in sys.modules


def test_found_name_of_the_wrong_kind_is_not_used():
    # "builtins:print" exists but is no exception class: no call, fallback instead.
    got = ser.deserialize_exception(
        json.dumps({TAG: "exception", "c": "builtins:print", "args": ["x"], "str": "x", "dict": {}})
    )
    assert type(got) is ser.PortableWorkflowError
    assert ser.deserialize(json.dumps({TAG: "dataclass", "c": "builtins:dict", "v": {}})) == {}


def test_local_classes_fall_back():
    @dataclasses.dataclass
    class Local:
        a: int

    assert roundtrip(Local(1)) == {"a": 1}


# --- refusals -----------------------------------------------------------------------


def _refusal(fn, *args) -> str:
    with pytest.raises(DBOSSerializationError) as info:
        fn(*args)
    assert isinstance(info.value, TypeError)
    message = str(info.value)
    assert "serializer='pickle'" in message and "convert it to a supported type" in message
    return message


def test_refusals_name_type_and_location():
    assert "args[1]: type builtins.function" in _refusal(ser.serialize_args, (1, lambda: 1), {})
    with socket.socket() as sock:
        assert "kwargs['x']: type socket.socket" in _refusal(ser.serialize_args, (), {"x": sock})
    with open(__file__) as f:
        msg = _refusal(ser.serialize, {"key": [0, 1, f]}, "output")
        assert 'output["key"][2]: type _io.TextIOWrapper' in msg
    msg = _refusal(ser.serialize, Box(item={3: Plain()}), "output")
    assert f"output.item[3]: type {__name__}.Plain" in msg
    msg = _refusal(ser.serialize, {(1, 2): 1, object(): 2})
    assert "value.keys()[1]: type builtins.object" in msg
    assert "collections.OrderedDict" in _refusal(ser.serialize, OrderedDict(a=1))
    assert "builtins.type" in _refusal(ser.serialize, Point)  # a class, not an instance


def test_cycles_are_refused_not_crashing():
    loop: list = []
    loop.append(loop)
    with pytest.raises(DBOSSerializationError, match="cycle"):
        ser.serialize(loop, "output")


# --- pickle and custom formats ------------------------------------------------------


def test_pickle_text_is_refused_unless_enabled():
    text = ser.PickleSerializer().serialize(Plain(3))
    assert text.startswith("pickle:")
    dbos_raw = base64.b64encode(pickle.dumps(Plain(3))).decode()  # how DBOS stores it
    for stored in (text, dbos_raw):
        with pytest.raises(DBOSSerializationError, match="serializer='pickle'"):
            ser.deserialize(stored)
    with pytest.raises(DBOSSerializationError, match="pickle"):
        ser.SafeJSONSerializer().deserialize(text)
    ser.configure("pickle")
    assert ser.current().name() == "pickle"
    assert ser.deserialize(text) == Plain(3) and ser.deserialize(dbos_raw) == Plain(3)
    assert roundtrip(Plain(4)) == Plain(4)
    text = ser.serialize_args((Plain(1),), {"k": 2})
    assert ser.deserialize_args(text) == ((Plain(1),), {"k": 2})
    assert roundtrip({"a": (1,)}) == {"a": (1,)}
    assert ser.deserialize('{"a": 1}') == {"a": 1}  # JSON rows stay readable
    with pytest.raises(DBOSSerializationError, match="output"):
        ser.serialize(lambda: 1, "output")
    ser.configure("json")
    with pytest.raises(DBOSSerializationError):
        ser.deserialize(text)


def test_pickle_exceptions_that_cannot_unpickle_use_json():
    ser.configure("pickle")
    text = ser.serialize_exception(UserErrorWithInit(1, "x"))
    assert not text.startswith("pickle:")
    got = ser.deserialize_exception(text)
    assert type(got) is UserErrorWithInit and got.code == 1
    assert (
        type(ser.deserialize_exception(ser.serialize_exception(ValueError(Plain())))) is ValueError
    )


class Reversing(ser.Serializer):
    def name(self) -> str:
        return "reversing"

    def serialize(self, data: Any) -> str:
        return "rev:" + str(data)[::-1]

    def deserialize(self, serialized_data: str) -> Any:
        return serialized_data[4:][::-1]


def test_custom_serializer():
    ser.configure(Reversing())
    assert ser.current().name() == "reversing"
    assert ser.serialize("abc") == "rev:cba" and ser.deserialize("rev:cba") == "abc"
    assert ser.deserialize('{"a": [1]}') == {"a": [1]}
    assert ser.deserialize(ser.SafeJSONSerializer().serialize((1,))) == (1,)
    with pytest.raises(DBOSSerializationError, match="serializer='pickle'"):
        ser.deserialize(ser.PickleSerializer().serialize(1))


def test_configure_rejects_unknown_spec():
    with pytest.raises(DBOSConfigError, match="yaml"):
        ser.configure("yaml")
    assert ser.current().name() == "json" and isinstance(ser.current(), ser.SafeJSONSerializer)


def test_base_serializer_is_abstract():
    with pytest.raises(TypeError):
        ser.Serializer()  # type: ignore[abstract]


def test_error_sweep_covers_the_module():
    # Guards the dbos_queue.error sweep above against silently testing nothing.
    assert len(_error_classes()) >= 20
    assert isinstance(_sample(dbos_errors.DBOSMaxStepRetriesExceeded), BaseException)
