"""Which traces are recorded (motcua_common.telemetry.sampler): nothing without an exporter, a share of the new
traces with one, and a trace the caller sampled is recorded here too (a trace is recorded whole or not at all)."""

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.sampling import Decision
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from pydantic import ValidationError

from motcua_common.settings import ServiceSettings
from motcua_common.telemetry import sampler

TRACE_IDS = range(1, 2**64, 2**64 // 1000)  # spread over the range the ratio sampler compares


def _parent(sampled: bool):
    ctx = SpanContext(
        trace_id=0x1234, span_id=0x5678, is_remote=True, trace_flags=TraceFlags(0x01 if sampled else 0x00)
    )
    return trace.set_span_in_context(NonRecordingSpan(ctx))


def _recorded(s, trace_id: int, parent=None) -> bool:
    return s.should_sample(parent, trace_id, "POST /api/v1/dossiers").decision == Decision.RECORD_AND_SAMPLE


def test_nothing_is_recorded_without_an_exporter():
    s = sampler("none", 1.0)
    assert not any(_recorded(s, t) for t in TRACE_IDS)
    assert not _recorded(s, 0x1234, _parent(sampled=True))


def test_with_an_exporter_every_trace_is_recorded_by_default():
    s = sampler("console")
    assert all(_recorded(s, t) for t in TRACE_IDS)


def test_a_ratio_records_about_that_share_of_new_traces():
    recorded = sum(_recorded(sampler("console", 0.1), t) for t in TRACE_IDS)
    assert 50 <= recorded <= 150


def test_the_callers_decision_is_followed():
    s = sampler("console", 0.0)
    assert _recorded(s, 0x1234, _parent(sampled=True))
    assert not _recorded(sampler("console", 1.0), 0x1234, _parent(sampled=False))


@pytest.mark.parametrize("value", ["-0.1", "1.5", "often"])
def test_a_ratio_outside_0_to_1_is_refused(monkeypatch, value):
    monkeypatch.setenv("MOTCUA_OTEL_SAMPLE_RATIO", value)
    with pytest.raises(ValidationError):
        ServiceSettings()


def test_the_ratio_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("MOTCUA_OTEL_SAMPLE_RATIO", "0.25")
    assert ServiceSettings().otel_sample_ratio == 0.25
