using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using FeatureStore.Core.Events;

namespace FeatureStore.Ingest;

/// <summary>
/// The ingest job's instruments (meter <c>FeatureStore.Ingest</c>; exported as Prometheus metrics by the
/// host). Names, as Prometheus shows them:
/// <c>featurestore_ingest_events_total</c> (accepted events, by source),
/// <c>featurestore_ingest_dead_lettered_total</c> (by source and reason),
/// <c>featurestore_ingest_batch_write_seconds</c> (one online-store write per batch),
/// <c>featurestore_ingest_freshness_seconds</c> (event time to visible online, per batch's newest event),
/// <c>featurestore_ingest_consumer_lag</c> (messages behind the partition's end, by topic and partition),
/// <c>featurestore_ingest_store_retries_total</c> (batch writes retried while a store was unavailable).
/// Events per second is the rate of the events counter.
/// </summary>
public sealed class IngestMetrics : IDisposable
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "FeatureStore.Ingest";

    private readonly Meter _meter;
    private readonly Counter<long> _events;
    private readonly Counter<long> _deadLettered;
    private readonly Histogram<double> _batchWrite;
    private readonly Histogram<double> _freshness;
    private readonly ConcurrentDictionary<(string Topic, int Partition), long> _lag = new();
    private readonly Counter<long> _retries;
    private readonly Counter<long> _historyOwned;
    private long _eventsTotal;
    private long _historyOwnedTotal;
    private long _deadLetteredTotal;
    private long _retriesTotal;
    private long _batchesWritten;
    private long _readAgainTotal;
    private long _replayedTotal;

    /// <summary>Creates the instruments on a new meter.</summary>
    public IngestMetrics(IMeterFactory? meterFactory = null)
    {
        _meter = meterFactory?.Create(MeterName) ?? new Meter(MeterName);
        _events = _meter.CreateCounter<long>("events", "{event}", "Events accepted and applied to tiles.");
        _deadLettered = _meter.CreateCounter<long>("dead_lettered", "{event}", "Events sent to the dead-letter topic.");
        _batchWrite = _meter.CreateHistogram<double>("batch_write", "s", "Duration of one batch's online-store write.");
        _freshness = _meter.CreateHistogram<double>("freshness", "s", "Event time to online visibility of each batch's newest event.");
        _retries = _meter.CreateCounter<long>("store_retries", "{retry}", "Batch writes retried because the online store or the dead-letter topic was unavailable.");
        _historyOwned = _meter.CreateCounter<long>("history_owned", "{event}", "Stream events before the source's history cut-over, skipped: the imported history holds them.");
        _meter.CreateObservableGauge("consumer_lag", ObserveLag, "{message}", "Messages behind the end of each assigned partition.");
    }

    /// <summary>Accepted events so far (all sources).</summary>
    public long EventsTotal => Interlocked.Read(ref _eventsTotal);

    /// <summary>Dead-lettered events so far (all sources and reasons).</summary>
    public long DeadLetteredTotal => Interlocked.Read(ref _deadLetteredTotal);

    /// <summary>Stream events skipped so far because they lie before their source's history cut-over (read again after a rewind, counted again).</summary>
    public long HistoryOwnedTotal => Interlocked.Read(ref _historyOwnedTotal);

    /// <summary>Batch writes retried so far because a store was unavailable.</summary>
    public long RetriesTotal => Interlocked.Read(ref _retriesTotal);

    /// <summary>Batches written to the online store so far.</summary>
    public long BatchesWritten => Interlocked.Read(ref _batchesWritten);

    /// <summary>
    /// Events read again: accepted into batches whose write was dropped unconfirmed (the online store or the
    /// dead-letter topic failed, or the member was fenced), then read again from the checkpoint. They are not in
    /// <see cref="EventsTotal"/>, which counts an event once its batch's write has landed.
    /// </summary>
    public long ReadAgainTotal => Interlocked.Read(ref _readAgainTotal);

    /// <summary>
    /// Of <see cref="EventsTotal"/>, events applied again: below the group's offset committed in Kafka when the
    /// partition was assigned, so applied before (the online store lost the checkpoints that covered them).
    /// </summary>
    public long ReplayedTotal => Interlocked.Read(ref _replayedTotal);

    /// <summary>Events consumed and dead-lettered per source since the status writer last took them (docs/quality.md).</summary>
    public SourceQualityTally Quality { get; } = new();

    /// <summary>Consumer lag per partition, as last observed.</summary>
    public IReadOnlyDictionary<(string Topic, int Partition), long> Lag => _lag;

    internal void EventsAccepted(string source, int count)
    {
        Interlocked.Add(ref _eventsTotal, count);
        Quality.Accepted(source, count);
        _events.Add(count, new KeyValuePair<string, object?>("source", source));
    }

    internal void DeadLettered(string source, ParseError reason)
    {
        Interlocked.Increment(ref _deadLetteredTotal);
        Quality.DeadLettered(source, reason.ToReason());
        _deadLettered.Add(1, new KeyValuePair<string, object?>("source", source), new KeyValuePair<string, object?>("reason", reason.ToReason()));
    }

    internal void HistoryOwned(string source)
    {
        Interlocked.Increment(ref _historyOwnedTotal);
        _historyOwned.Add(1, new KeyValuePair<string, object?>("source", source));
    }

    internal void BatchWritten(TimeSpan duration, TimeSpan freshness)
    {
        Interlocked.Increment(ref _batchesWritten);
        Quality.Landed();
        _batchWrite.Record(duration.TotalSeconds);
        if (freshness >= TimeSpan.Zero)
        {
            _freshness.Record(freshness.TotalSeconds);
        }
    }

    internal void Retried()
    {
        Interlocked.Increment(ref _retriesTotal);
        _retries.Add(1);
    }

    internal void ReadAgain(long count) => Interlocked.Add(ref _readAgainTotal, count);

    internal void Replayed(long count) => Interlocked.Add(ref _replayedTotal, count);

    internal void SetLag(string topic, int partition, long lag) => _lag[(topic, partition)] = lag;

    internal void ClearLag(string topic, int partition) => _lag.TryRemove((topic, partition), out _);

    /// <summary>Disposes the meter.</summary>
    public void Dispose() => _meter.Dispose();

    private IEnumerable<Measurement<long>> ObserveLag() =>
        _lag.Select(kv => new Measurement<long>(kv.Value,
            new KeyValuePair<string, object?>("topic", kv.Key.Topic),
            new KeyValuePair<string, object?>("partition", kv.Key.Partition)));
}
