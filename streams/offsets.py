"""Source offsets Faust cannot lose: hold partitions until the seek, commit after the effects.

Faust 0.15.3 (``faust/tables/recovery.py``, ``Recovery.on_recovery_completed`` and
``_resume_streams``) ends every rebalance by *resuming* the stream partitions, then seeking them
to the committed offsets, then resuming flow control — which empties every agent's buffer.
Records fetched in between move the consumer's read offset (``Consumer._read_offset``) and are
then cleared from the buffer; what is fetched again after the seek is either dropped as already
read (``offset < read_offset`` in ``Consumer._drain_messages``) or, when the read offset jumps,
marked acknowledged by the gap filling (``Consumer._add_gap``) and committed unprocessed. A
restarted worker lost records that way.

:class:`OffsetsApp` closes both halves of that:

* **Hold until the seek.** Its consumer keeps every stream (non-changelog) partition of a new
  assignment out of the fetch set until the rebalance has ended (:meth:`App.on_rebalance_end`,
  which Faust calls after the seek and after flow control was resumed) *and* a seek to the
  committed offsets has completed during this assignment. Nothing is read from a partition
  before its position and read offset are the committed offset, so nothing is dropped, gap-acked
  or cleared after being counted as read.
* **Commit after the effects.** A topic declared with :meth:`OffsetsApp.source_topic` has Faust's
  acks off, so Faust never acks, gap-fills or commits it. The agent calls
  ``await app.commit_processed(events)`` once the events' effects are durable; that flushes the
  producer (every record sent goes out before the source offsets are committed) and commits
  the highest processed offset + 1 of each partition still assigned, never moving backwards.

Contract for an agent on a source topic: it is the only agent reading that topic, runs with
``concurrency=1`` (partitions arrive in offset order, batches finish in order), completes a
batch's effects before calling :meth:`~OffsetsApp.commit_processed`, and on an error it cannot
handle stops the process without committing (a restarted agent would otherwise go on past the
failed batch and a later commit would cover it). ``commit_processed`` checks the first two.

* **A batch at a time.** Faust's fetcher (``Consumer._drain_messages``) hands each fetched
  record to the conductor under ``Service.wait_first`` — four asyncio tasks and an
  ``asyncio.wait`` per record —, then a stream steps it to the agent: a quarter of a busy
  worker's GIL. The records of a source topic skip all that: the consumer's ``getmany`` puts
  them into the topic's :class:`~streams.source_buffer.SourceBuffer` (keeping Faust's read
  offset checks), and the agent takes what is there, up to a batch, with
  :meth:`OffsetsApp.take_source`. A full buffer waits for room *or* for the flow to stop: a
  rebalance abandons a blocked delivery, as Faust's ``wait_first`` on ``suspend_flow`` does,
  and clears the buffers, as Faust clears the agents' queues (the records are fetched again
  from the committed offsets).

* **Short fetches.** Faust's driver makes the broker hold a fetch up to 1.5 s; the app's
  ``fetch_max_wait_ms`` replaces it (``SeekFirstConsumer._new_consumer_thread``).

A record missing between two processed ones (the next offset seen in a partition is beyond the
last one processed + 1) is logged as an error with the range: on this topic (no transactions,
no compaction) it would be a lost record.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any

import faust
from faust.exceptions import ConsumerNotStarted
from faust.transport.consumer import ensure_TPset
from faust.types import TP, Message, TopicT

from streams.source_buffer import SourceBuffer

log = logging.getLogger(__name__)


def next_offsets(messages: Iterable[Message]) -> dict[TP, tuple[int, int]]:
    """Per partition, ``(lowest offset, highest offset + 1)`` of the messages."""
    spans: dict[TP, tuple[int, int]] = {}
    for message in messages:
        tp, offset = message.tp, message.offset
        low, high = spans.get(tp, (offset, offset + 1))
        spans[tp] = (min(low, offset), max(high, offset + 1))
    return spans


class SeekFirstConsumer:
    """Mixed into the transport's consumer class by :class:`OffsetsApp` (see the module doc)."""

    # Class-level defaults, so the attributes exist while Faust's own __init__ runs.
    _held: frozenset[TP] = frozenset()
    _epoch: int = 0
    _seeked_epoch: int = -1

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._held = frozenset()
        self._seeked_epoch = -1
        self._next: dict[TP, int | None] = {}  # next offset expected per source partition
        self._committed: dict[TP, int] = {}  # what commit_processed committed per partition
        self._commit_lock = asyncio.Lock()
        super().__init__(*args, **kwargs)

    # -- hold stream partitions from assignment until a seek and the end of the rebalance ---
    async def on_partitions_assigned(self, assigned: set[TP], generation_id: int = 0) -> None:
        self._epoch += 1
        self._seeked_epoch = -1
        self._held = frozenset(tp for tp in ensure_TPset(assigned)
                               if not self._is_changelog_tp(tp))  # type: ignore[attr-defined]
        for known in (self._committed, self._next):  # forget partitions no longer ours
            for tp in set(known) - self._held:
                del known[tp]
        self._clear_sources()
        await super().on_partitions_assigned(assigned, generation_id)  # type: ignore[misc]

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        await super().on_partitions_revoked(revoked)  # type: ignore[misc]  # flow stopped
        self._clear_sources()  # as Faust clears the agents' queues

    # -- source records into their buffers, a fetch at a time --------------------------------
    def _source_buffers(self) -> dict[str, SourceBuffer]:
        return self.app.__dict__.get("_source_buffers", {})  # type: ignore[attr-defined,no-any-return]

    def _clear_sources(self) -> None:
        for buffer in self._source_buffers().values():
            buffer.clear()

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Any]]:
        """Faust's fetch, with the source topics' records put into their buffers instead of
        yielded to the fetcher's per-record hand-off. Faust's checks per record are kept: one
        below the partition's read offset was read already (dropped), the read offset moves to
        each record buffered (gaps are tracked for acked topics only, which these are not)."""
        buffers = self._source_buffers()
        read_offset = self._read_offset  # type: ignore[attr-defined]
        async for tp, message in super().getmany(timeout):  # type: ignore[misc]
            buffer = buffers.get(tp.topic)
            if buffer is None:
                yield tp, message
                continue
            offset = message.offset
            last = read_offset[tp]
            if last is not None and offset < last:
                continue
            if not buffer.has_room:  # wait for the agent, or for a rebalance to start
                await self.wait_first(buffer.room(), self.suspend_flow.wait())  # type: ignore[attr-defined]
                if not self.flow_active or self.should_stop:  # type: ignore[attr-defined]
                    return  # the rest of this fetch is fetched again after the seek
            buffer.append(message)
            read_offset[tp] = offset

    def _set_active_tps(self, tps: set[TP]) -> set[TP]:
        active: set[TP] = super()._set_active_tps(tps)  # type: ignore[misc]
        active.difference_update(self._held)
        return active

    def resume_partitions(self, tps: Iterable[TP]) -> None:
        super().resume_partitions(tps)  # type: ignore[misc]
        self._get_active_partitions().difference_update(self._held)  # type: ignore[attr-defined]

    def on_buffer_drop(self, tp: TP) -> None:
        super().on_buffer_drop(tp)  # type: ignore[misc]
        if tp in self._held:
            self._get_active_partitions().discard(tp)  # type: ignore[attr-defined]

    async def perform_seek(self) -> None:
        epoch = self._epoch
        await super().perform_seek()  # type: ignore[misc]
        if epoch == self._epoch:
            self._seeked_epoch = epoch
            read_offset = self._read_offset  # type: ignore[attr-defined]
            for tp in self._held - set(self._next):  # new partitions resume at the committed
                self._next[tp] = read_offset.get(tp)  # offset; kept ones at what was processed

    def release_held(self) -> None:
        """End of a rebalance: fetch the held partitions, seeking them first if not yet done."""
        if not self._held:
            return
        epoch = self._epoch
        if self._seeked_epoch == epoch:
            self._release(epoch)
        else:
            log.warning("rebalance ended before the seek to committed offsets; seeking now")
            self.add_future(self._seek_then_release(epoch))  # type: ignore[attr-defined]

    async def _seek_then_release(self, epoch: int) -> None:
        while epoch == self._epoch and not self.should_stop:  # type: ignore[attr-defined]
            try:
                await self.perform_seek()
            except Exception:
                log.exception("seek to committed offsets failed; retrying")
                await asyncio.sleep(1.0)
            else:
                self._release(epoch)
                return

    def _release(self, epoch: int) -> None:
        if epoch != self._epoch or self._seeked_epoch != epoch:
            return
        held, self._held = self._held, frozenset()
        paused = self._paused_partitions  # type: ignore[attr-defined]
        self._get_active_partitions().update(  # type: ignore[attr-defined]
            tp for tp in held if tp not in paused)
        log.info("fetching %d stream partitions from their committed offsets", len(held))

    # -- how long the broker may hold a fetch -------------------------------------------------
    def _new_consumer_thread(self) -> Any:
        """Faust's aiokafka driver hard-codes ``fetch_max_wait_ms=1500``; the embedded broker
        holds a fetch that long when a partition in it has no data, so every hop of the
        topology added up to 1.5 s. The app's ``fetch_max_wait_ms`` replaces it."""
        thread = super()._new_consumer_thread()  # type: ignore[misc]
        create = thread._create_worker_consumer
        wait_ms = getattr(self.app, "fetch_max_wait_ms", None)  # type: ignore[attr-defined]

        def create_worker_consumer(transport: Any) -> Any:
            consumer = create(transport)
            if wait_ms is not None:
                consumer._fetch_max_wait_ms = wait_ms  # read by AIOKafkaConsumer.start()
            return consumer

        thread._create_worker_consumer = create_worker_consumer
        return thread

    # -- commits of source topics, by the agents ----------------------------------------------
    async def commit_processed_spans(self, spans: Mapping[TP, tuple[int, int]]) -> bool:
        """Commit ``high`` for each partition (see :meth:`OffsetsApp.commit_processed`)."""
        async with self._commit_lock:
            try:
                assignment = self.assignment()  # type: ignore[attr-defined]
            except ConsumerNotStarted:
                return False
            offsets = {}
            for tp, (low, high) in spans.items():
                if tp not in assignment:  # revoked meanwhile: its new owner starts over
                    continue
                expected = self._next.get(tp)
                if expected is not None and low > expected:
                    log.error("offsets %d..%d of %s were never delivered to the agent",
                              expected, low - 1, tp)
                self._next[tp] = high if expected is None else max(expected, high)
                if high > self._committed.get(tp, -1):
                    offsets[tp] = high
            if not offsets:
                return False
            app: Any = self.app  # type: ignore[attr-defined]
            producer = app.producer
            await producer.flush()
            if producer.buffer.size:  # Producer.flush gives up after 0.1 s without progress:
                return False  # records sent may not be out yet, so do not commit
            if not await self._commit(offsets):  # type: ignore[attr-defined]
                return False
            self._committed.update(offsets)
            app.tables.on_commit(offsets)
            app.monitor.on_tp_commit(offsets)
            return True


@functools.cache
def _seek_first(consumer_class: type) -> type:
    return type(f"SeekFirst{consumer_class.__name__}", (SeekFirstConsumer, consumer_class),
                {"__module__": __name__})


class OffsetsApp(faust.App):
    """A Faust app whose stream partitions start at the committed offsets, with agent commits,
    and whose consumer waits at most ``fetch_max_wait_ms`` for a fetch."""

    fetch_max_wait_ms: int | None = None

    def source_topic(self, *topics: str, buffer_records: int = 4096, **kwargs: Any) -> TopicT:
        """A topic whose offsets only :meth:`commit_processed` commits (Faust's acks are off)
        and whose records its agent takes in batches (:meth:`take_source`); up to
        ``buffer_records`` of them wait fetched."""
        topic = self.topic(*topics, acks=False, **kwargs)
        buffers: dict[str, SourceBuffer] = self.__dict__.setdefault("_source_buffers", {})
        for name in topic.topics:
            buffers[name] = SourceBuffer(buffer_records)
        return topic

    async def take_source(self, topic: TopicT, max_records: int,
                          linger: float = 0.0) -> list[Message]:
        """The next batch of ``topic`` (a :meth:`source_topic`): what is fetched, up to
        ``max_records``, as soon as there is one record (``linger``: see
        :meth:`SourceBuffer.take`). Called by the topic's one agent, which subscribes it."""
        [name] = topic.topics
        buffer = self.__dict__["_source_buffers"][name]
        subscribed: set[str] = self.__dict__.setdefault("_subscribed_sources", set())
        if name not in subscribed:
            self.topics.add(topic)  # what iterating the agent's stream would do
            subscribed.add(name)
        return await buffer.take(max_records, linger)  # type: ignore[no-any-return]

    async def commit_processed(self, events: Iterable[Message]) -> bool:
        """Commit the source offsets of ``events`` (consumer messages), whose effects must be
        done and durable.

        Commits the highest offset + 1 per partition (Kafka's "next to read"), only for
        partitions this worker still owns and only forwards. Returns whether a commit happened;
        not committing is always safe (the records are processed again after a restart).
        """
        spans = next_offsets(events)
        if not spans:
            return False
        for topic in {tp.topic for tp in spans}:
            self._check_source(topic)
        consumer = self.consumer
        if not isinstance(consumer, SeekFirstConsumer):  # pragma: no cover - set by _new_consumer
            raise RuntimeError("commit_processed needs the consumer made by OffsetsApp")
        return await consumer.commit_processed_spans(spans)

    def _check_source(self, topic: str) -> None:
        checked: set[str] = self.__dict__.setdefault("_checked_sources", set())
        if topic in checked:
            return
        if self.topics.acks_enabled_for(topic):
            raise RuntimeError(f"{topic!r} has Faust acks on: declare it with source_topic()")
        readers = [a for a in self.agents.values()
                   if topic in getattr(a.channel, "topics", ())]
        if len(readers) != 1 or readers[0].concurrency != 1:
            raise RuntimeError(f"source topic {topic!r} must be read by exactly one agent with "
                               f"concurrency=1, not {[(a.name, a.concurrency) for a in readers]}")
        checked.add(topic)

    def on_rebalance(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` when a rebalance starts (partitions may change owner)."""
        self.__dict__.setdefault("_rebalance_callbacks", []).append(callback)

    def on_rebalance_start(self) -> None:
        super().on_rebalance_start()
        for callback in self.__dict__.get("_rebalance_callbacks", ()):
            callback()

    def on_rebalance_end(self) -> None:
        super().on_rebalance_end()
        consumer = self._consumer
        if isinstance(consumer, SeekFirstConsumer):
            consumer.release_held()

    def _new_consumer(self) -> Any:
        transport = self.transport
        return _seek_first(transport.Consumer)(  # as Transport.create_consumer does
            transport,
            callback=self.topics.on_message,
            on_partitions_revoked=self._on_partitions_revoked,
            on_partitions_assigned=self._on_partitions_assigned,
            beacon=self.beacon,
            loop=transport.loop,
        )
