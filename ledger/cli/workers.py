"""Commands of the Kafka workers: consume, relay, project, and `projections verify`.

Each builds its parts here, from settings: the ledger through `bootstrap`, its Kafka clients
from LEDGER_KAFKA_BOOTSTRAP. SIGTERM and SIGINT stop a worker between batches, so what it has
taken is durable and committed before it exits.
"""

from __future__ import annotations

import signal
import threading
from datetime import UTC, datetime
from typing import Any

import click
import structlog

from consumers.clients import group_consumer, idempotent_producer
from consumers.inbound import InboundConsumer
from consumers.metrics import MeasuredLedger, MeasuredPartitions, MeasuredRelay, WorkerMetrics
from consumers.partitions import Growth, PartitionLoop
from consumers.project import Projector
from consumers.wakeup import ledger_commits
from ledger import tracing
from ledger.bootstrap import bootstrap
from ledger.cli.options import TIME
from ledger.cli.output import fail
from ledger.settings import Settings
from schemas.times import format_time

log = structlog.get_logger()
BEHIND = 1000  # facts counted beyond a worker's position for its "behind" gauge

MAX_IDLE = click.option("--max-idle", type=click.FloatRange(min=0), default=None, metavar="SECONDS",
                        help="Exit after this many seconds without new records (default: run "
                             "until SIGTERM or SIGINT).")
METRICS_PORT = click.option("--metrics-port", type=click.IntRange(1, 65535), default=None,
                            help="Serve Prometheus /metrics on this port, on LEDGER_METRICS_HOST "
                                 "(default 127.0.0.1) (default: LEDGER_METRICS_PORT; off if unset).")
BATCH_SIZE = click.option("--batch-size", type=click.IntRange(1, 10_000), default=500,
                          show_default=True,
                          help="Most records of a partition taken in one batch (the relay: in "
                               "one page); batches grow with load up to it.")


def _kafka(settings: Settings) -> str:
    if not settings.kafka_bootstrap:
        fail("LEDGER_KAFKA_BOOTSTRAP is not set; give the Kafka bootstrap servers as host:port,... "
             "(without Kafka, `ledger up` runs the in-process fan-out)")
    assert settings.kafka_bootstrap is not None
    return settings.kafka_bootstrap


def _metrics(settings: Settings, port: int | None, worker: str) -> WorkerMetrics:
    """The worker's metrics, served on --metrics-port / LEDGER_METRICS_PORT if one is given."""
    metrics = WorkerMetrics(worker)
    port = port or settings.metrics_port
    if port:
        metrics.serve(port, settings.metrics_host)
        log.info("metrics.serving", url=f"http://{settings.metrics_host}:{port}/metrics")
    return metrics


def _traced(settings: Settings, ledger: Any, role: str) -> tuple[Any, tracing.TraceContexts | None]:
    """With OTEL_* configuring an exporter: the ledger traced, and where trace contexts are kept."""
    if not tracing.configure(role):
        return ledger, None
    contexts = tracing.TraceContexts.open(settings.database_url)
    return tracing.TracedLedger(ledger, contexts), contexts


def _stop_on_signals() -> threading.Event:
    """SIGTERM or SIGINT ends the worker after the batch in hand."""
    stop = threading.Event()

    def request_stop(signum: int, _frame: Any) -> None:
        log.info("worker.stopping", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    return stop


@click.command()
@MAX_IDLE
@BATCH_SIZE
@METRICS_PORT
@click.pass_obj
def consume(settings: Settings, max_idle: float | None, batch_size: int,
            metrics_port: int | None) -> None:
    """Kafka billing.events -> ledger; rejections -> billing.events.rejected."""
    servers = _kafka(settings)
    stop = _stop_on_signals()
    wiring = bootstrap(settings)
    metrics = _metrics(settings, metrics_port, "consume")
    producer = idempotent_producer(servers, "ledger-consume")
    consumer = group_consumer(servers, settings.consumer_group, "ledger-consume", batch_size)
    ledger, contexts = _traced(settings, wiring.ledger, "consume")
    worker = InboundConsumer(MeasuredLedger(ledger, metrics), producer, settings.rejected_topic)
    log.info("consume.start", topic=settings.inbound_topic, group=settings.consumer_group,
             rejected_topic=settings.rejected_topic)
    try:
        measured = MeasuredPartitions(worker, consumer, metrics)
        PartitionLoop(consumer, settings.inbound_topic,
                      tracing.traced_partitions(measured, "ledger consume") if contexts else measured,
                      stop, max_idle, growth=Growth(batch_size)).run()
    finally:
        consumer.close(autocommit=False)
        producer.close()
        wiring.close()
    log.info("consume.stop", **worker.counts)


@click.command()
@MAX_IDLE
@BATCH_SIZE
@METRICS_PORT
@click.pass_obj
def relay(settings: Settings, max_idle: float | None, batch_size: int, metrics_port: int | None) -> None:
    """Ledger -> Kafka entitlements.events, resuming where it stopped."""
    servers = _kafka(settings)
    stop = _stop_on_signals()
    wiring = bootstrap(settings)
    producer = idempotent_producer(servers, "ledger-relay")
    _, contexts = _traced(settings, wiring.ledger, "relay")
    wakeup = ledger_commits(wiring.store.recorder)
    worker = MeasuredRelay(wiring.store, tracing.TracedProducer(producer, contexts) if contexts else producer,
                           settings.outbound_topic, page=batch_size, wakeup=wakeup)
    worker.metrics = metrics = _metrics(settings, metrics_port, "relay")
    metrics.gauge("ledger_relay_position", "The last ledger position the broker acknowledged.",
                  worker.position)
    metrics.gauge("ledger_relay_behind", f"Ledger events not yet published (counted up to {BEHIND}).",
                  lambda: len(wiring.store.facts_after(worker.position(), BEHIND)))
    try:
        worker.run(stop, max_idle)
        log.info("relay.stop", published=worker.published, position=worker.position())
    finally:
        wakeup.close()
        producer.close()
        wiring.close()


@click.command()
@click.option("--rebuild", is_flag=True,
              help="First rebuild the read models from the ledger (not from the topic, which may "
                   "no longer hold everything), then follow the topic.")
@MAX_IDLE
@BATCH_SIZE
@METRICS_PORT
@click.pass_obj
def project(settings: Settings, rebuild: bool, max_idle: float | None, batch_size: int,
            metrics_port: int | None) -> None:
    """Kafka entitlements.events -> read models, as a member of a consumer group."""
    servers = _kafka(settings)
    from projections.readmodel import ReadModels
    from projections.rebuild import rebuild_from_ledger

    stop = _stop_on_signals()
    wiring = bootstrap(settings)
    models = ReadModels.open(settings.read_url)
    metrics = _metrics(settings, metrics_port, "project")
    metrics.gauge("ledger_projection_position", "The highest ledger position in the read models.",
                  models.newest_applied)
    metrics.gauge("ledger_projection_behind", "Ledger events after the highest projected one "
                  f"(counted up to {BEHIND}).",
                  lambda: len(wiring.store.facts_after(models.newest_applied(), BEHIND)))
    if rebuild:
        log.info("project.rebuild.start")
        rebuild_from_ledger(wiring.store, models)
        log.info("project.rebuild.done")
    consumer = group_consumer(servers, settings.projection_group, "ledger-project", batch_size)
    worker = Projector(models)
    log.info("project.start", topic=settings.outbound_topic, group=settings.projection_group)
    try:
        measured = MeasuredPartitions(worker, consumer, metrics)
        traced = tracing.configure("project")
        PartitionLoop(consumer, settings.outbound_topic,
                      tracing.traced_partitions(measured, "read models apply") if traced else measured,
                      stop, max_idle, growth=Growth(batch_size)).run()
    finally:
        consumer.close(autocommit=False)
        _close(models)
        wiring.close()
    log.info("project.stop", received=worker.received, applied=worker.applied)


@click.group()
def projections() -> None:
    """The read models that `ledger project` builds."""


@projections.command("verify")
@click.option("--as-of", type=TIME, default=None,
              help="The moment compared (default now); RFC 3339 with a zone, e.g. 2026-03-01T00:00:00Z.")
@click.pass_obj
def verify(settings: Settings, as_of: datetime | None) -> None:
    """Compare every read model row with a replay of the ledger; name the first difference."""
    from projections.readmodel import ReadModels
    from projections.verify import verify_projections

    moment = as_of or datetime.now(UTC)
    wiring = bootstrap(settings)
    models = ReadModels.open(settings.read_url)
    try:
        differences = verify_projections(wiring.store, wiring.ledger, models, moment)
    finally:
        _close(models)
        wiring.close()
    if differences:
        more = f" (and {len(differences) - 1} more)" if len(differences) > 1 else ""
        fail(f"read models differ from replay as of {format_time(moment)}: {differences[0]}{more}")
    click.echo(f"ok: read models match a replay of the ledger as of {format_time(moment)}")


def _close(models: Any) -> None:
    close = getattr(models, "close", None)
    if close is not None:
        close()


COMMANDS = [consume, relay, project, projections]
