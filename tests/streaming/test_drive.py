"""Driving streams: two labelled inputs through one engine (one batched round per push, each
event labelled, finals interleaved by time, the same text as each input alone), labelled
events' JSON, and the live health of an input (lag, drops)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

import numpy as np
import pytest

from s2t_stream.model.checkpoint import Bundle
from s2t_stream.streaming.drive import (
    HealthMonitor,
    Labelled,
    SourcesDriver,
    StreamDriver,
    TimeOrder,
    Unlabelled,
    merge,
)
from s2t_stream.streaming.engine import Engine
from s2t_stream.streaming.events import Event, Final, Partial, event_from_json
from s2t_stream.streaming.stream import Stream

CHUNK = 1600  # 0.1 s at 16 kHz


def final(segment: int, start_s: float, text: str = "x") -> Final:
    return Final(segment, text, start_s, start_s + 0.5, start_s + 1, start_s + 1, ())


def partial(segment: int, audio_s: float) -> Partial:
    return Partial(segment, "a", "b", audio_s, audio_s)


def test_merge_interleaves_finals_by_time_and_drops_superseded_partials() -> None:
    events = merge(
        {
            "You": [partial(0, 4.0), final(0, 3.0), partial(1, 4.1)],
            "Others": [final(0, 1.0), final(1, 3.5), partial(2, 4.2)],
        }
    )
    assert [(e.source, e.type, e.segment) for e in events] == [
        ("Others", "final", 0),
        ("You", "final", 0),
        ("Others", "final", 1),
        ("You", "partial", 1),  # "You"'s partial of segment 0 came before its final: dropped
        ("Others", "partial", 2),
    ]


def test_a_final_waits_while_an_earlier_segment_of_another_input_is_on_screen() -> None:
    order = TimeOrder()
    others = merge({"Others": [final(0, 2.0)], "You": [partial(0, 3.0)]})
    # "You" has words on screen from 1.0 s: "Others"' final (from 2.0 s) waits, and so does
    # its next partial; "You"'s partial goes through
    assert [(e.source, e.type) for e in order.release(others, shown_since=1.0)] == [
        ("You", "partial")
    ]
    later = merge({"Others": [partial(1, 4.0)]})
    assert order.release(later, shown_since=1.0) == []
    newest = merge({"Others": [partial(1, 4.5)]})
    assert order.release(newest, shown_since=1.0) == []
    you = merge({"You": [final(0, 1.0)]})  # "You" finishes: both finals, in spoken order
    released = order.release(you, shown_since=math.inf)
    assert [(e.source, e.type, e.audio_s) for e in released] == [
        ("You", "final", 2.0),
        ("Others", "final", 3.0),
        ("Others", "partial", 4.5),  # only the newest of the partials that waited
    ]


def test_labelled_events_round_trip_and_unlabelled_json_is_unchanged() -> None:
    (event,) = merge({"Others": [final(0, 1.0)]})
    data = event.to_json()
    assert data["source"] == "Others" and event_from_json(json.loads(json.dumps(data))) == event
    plain = final(0, 1.0).to_json()
    assert "source" not in plain and list(plain) == [
        "type", "segment", "text", "start_s", "end_s", "audio_s", "wall_s", "words",
    ]  # fmt: skip
    assert "source" not in partial(0, 1.0).to_json()


class Recorder:
    """A `Captioner` that remembers what it was pushed and answers with canned events."""

    def __init__(self, events: list[Event]) -> None:
        self.pushed: list[int] = []
        self.events = events

    def push(self, samples: np.ndarray) -> list[Event]:
        self.pushed.append(len(samples))
        return self.events

    def end(self) -> list[Event]:
        return [final(9, 9.0)]


def test_labelled_and_unlabelled_wrappers() -> None:
    you, others = Recorder([final(0, 2.0)]), Recorder([final(0, 1.0)])
    both = Labelled({"You": you, "Others": others})
    events = both.push({"You": np.zeros(3), "Others": np.zeros(5)})
    assert [e.source for e in events] == ["Others", "You"] and (you.pushed, others.pushed) == (
        [3],
        [5],
    )
    assert [e.source for e in both.end()] == ["You", "Others"]
    single = Unlabelled(Recorder([final(0, 1.0)]))
    assert [e.source for e in single.push({"": np.zeros(2)})] == [None]


def test_health_warns_while_dropping_and_while_lagging() -> None:
    now = [0.0]
    monitor = HealthMonitor(lag_warning_s=3.0, drop_shown_s=5.0, clock=lambda: now[0])
    assert monitor.update(0.1, 0.0).warning is None
    lagging = monitor.update(6.24, 0.0)
    assert lagging.lagging and lagging.warning == "captions 6.2 s behind real time"
    now[0] = 1.0
    dropping = monitor.update(0.5, 18.3)
    assert dropping.dropping and dropping.warning == "dropping audio (18.3 s lost so far)"
    now[0] = 5.9
    assert monitor.update(0.5, 18.3).dropping  # still shown shortly after the loss
    now[0] = 6.1
    calm = monitor.update(0.5, 18.3)
    assert not calm.dropping and calm.warning is None and calm.dropped_s == 18.3
    both = monitor.update(4.0, 19.0)
    assert both.warning == "dropping audio (19.0 s lost so far); captions 4.0 s behind real time"


# --- on the bundled model -------------------------------------------------------------------------


def chunks(audio: np.ndarray) -> list[np.ndarray]:
    return [audio[i : i + CHUNK] for i in range(0, len(audio), CHUNK)]


def texts(events: Sequence[Event]) -> list[str]:
    return [e.text for e in events if isinstance(e, Final) and e.text]


@pytest.mark.model
def test_two_sources_run_through_one_engine_batched_and_labelled(
    bundle: Bundle, waves: list[np.ndarray]
) -> None:
    second = np.zeros(16000, np.float32)
    you = np.concatenate([waves[0], *[second] * 6])  # speaks first, ~2 s
    others = np.concatenate([*[second] * 3, waves[1], second])  # from 3 s on
    others = np.pad(others, (0, len(you) - len(others)))  # the same length: one clock
    engine = Engine(bundle)
    rounds: list[int] = []
    step = engine.step

    def counted(streams: Sequence[Stream], *, finals_only: bool = False) -> int:
        rounds.append(len(streams))
        return step(streams, finals_only=finals_only)

    engine.step = counted  # type: ignore[method-assign]
    driver = SourcesDriver(engine, ["You", "Others"])
    events = [
        e
        for a, b in zip(chunks(you), chunks(others), strict=True)
        for e in driver.push({"You": a, "Others": b})
    ]
    events += driver.end()
    assert set(rounds) == {2}  # every round stepped both streams together
    finals = [e for e in events if isinstance(e, Final) and e.text]
    assert [f.source for f in finals] == ["You", "Others"]
    assert finals[0].end_s < finals[1].start_s  # "Others" spoke later, on the same clock
    assert all(e.source in ("You", "Others") for e in events)
    alone = []
    for audio in (you, others):
        driver_alone = StreamDriver(Engine(bundle))
        alone.append(
            texts([e for a in chunks(audio) for e in driver_alone.push(a)] + driver_alone.end())
        )
    assert [[f.text] for f in finals] == alone  # batching changes no text


@pytest.mark.model
def test_overlapping_speech_comes_out_in_the_order_it_began(
    bundle: Bundle, waves: list[np.ndarray]
) -> None:
    second = np.zeros(16000, np.float32)
    you = np.concatenate([waves[4], *[second] * 2])  # 4.1 s, from 0 s
    others = np.concatenate([second, waves[1]])  # 1.6 s, from 1 s: ends first
    others = np.pad(others, (0, len(you) - len(others)))
    driver = SourcesDriver(Engine(bundle), ["You", "Others"])
    events = [
        e
        for a, b in zip(chunks(you), chunks(others), strict=True)
        for e in driver.push({"You": a, "Others": b})
    ]
    events += driver.end()
    finals = [e for e in events if isinstance(e, Final) and e.text]
    assert [f.source for f in finals] == ["You", "Others"]
    assert finals[0].start_s < finals[1].start_s < finals[1].end_s < finals[0].end_s
    for label in ("You", "Others"):  # each input's own events stay in order
        mine = [e for e in events if e.source == label]
        assert [e.segment for e in mine] == sorted(e.segment for e in mine)
        assert isinstance(mine[-1], Final)


@pytest.mark.model
def test_labels_must_be_distinct_and_known(bundle: Bundle) -> None:
    engine = Engine(bundle)
    with pytest.raises(ValueError, match="distinct labels"):
        SourcesDriver(engine, ["You", "You"])
    driver = SourcesDriver(engine, ["You", "Others"])
    with pytest.raises(ValueError, match=r"no input labelled \['Me'\]"):
        driver.push({"Me": np.zeros(10, np.float32)})
