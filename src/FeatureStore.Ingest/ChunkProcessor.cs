using Confluent.Kafka;
using FeatureStore.Core.Events;
using FeatureStore.Kafka.DeadLetters;

namespace FeatureStore.Ingest;

/// <summary>
/// Parses and checks each message read, dead-letters the rejects, and hands the accepted events to the online
/// tile writer. Messages are processed on a second thread, a chunk at a time, while the consuming thread reads
/// the next chunk; rebalance callbacks and the end of a batch wait for it (and process what is left) first.
/// </summary>
internal sealed class ChunkProcessor(OnlineTileWriter writer, IngestMetrics metrics)
{
    private const int ChunkMessages = 1024;

    private List<(ConsumeResult<byte[]?, byte[]?> Result, PartitionState State)> _chunk = new(ChunkMessages);
    private List<(ConsumeResult<byte[]?, byte[]?> Result, PartitionState State)> _processed = new(ChunkMessages);
    private Task _processing = Task.CompletedTask;
    private DeadLetterProducer? _dlq;
    private long _nowMs;
    private Exception? _fault;
    private long _newestEventMs = long.MinValue;

    /// <summary>Starts a batch: rejects go to <paramref name="dlq"/>, lateness is judged at <paramref name="nowMs"/>.</summary>
    public void StartBatch(DeadLetterProducer dlq, long nowMs) => (_dlq, _nowMs) = (dlq, nowMs);

    /// <summary>Queues one message of an owned partition; a full chunk goes to the processing thread.</summary>
    public void Add(ConsumeResult<byte[]?, byte[]?> result, PartitionState state)
    {
        _chunk.Add((result, state));
        if (_chunk.Count == ChunkMessages)
        {
            Dispatch();
        }
    }

    /// <summary>Throws, on the consuming thread, a failure kept from a rebalance callback.</summary>
    public void ThrowIfFaulted()
    {
        if (_fault is { } fault)
        {
            _fault = null;
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(fault).Throw();
        }
    }

    /// <summary>The newest event time accepted since the last call (long.MinValue when none), for the batch's freshness.</summary>
    public long TakeNewestEventMs()
    {
        var newest = _newestEventMs;
        _newestEventMs = long.MinValue;
        return newest;
    }

    /// <summary>Waits for the processing thread, then processes what is left here: every message read is applied.</summary>
    public void Drain()
    {
        WaitProcessing();
        ProcessChunk(_chunk);
    }

    /// <summary>
    /// Drains inside a rebalance callback, where nothing may be thrown: a failure is kept and thrown once
    /// Consume returns (the batch is then dropped and every partition rewound).
    /// </summary>
    public void DrainInCallback()
    {
        try
        {
            Drain();
        }
        catch (Exception ex)
        {
            _fault ??= ex;
            _chunk.Clear();
        }
    }

    /// <summary>Stops processing after a failure: waits for the thread, drops what is left.</summary>
    public void Stop()
    {
        try
        {
            WaitProcessing();
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // the failure already propagating is the one reported
        }

        _chunk.Clear();
        _processed.Clear();
        _newestEventMs = long.MinValue;
    }

    /// <summary>Hands the filled chunk to the processing thread, once it is done with the one before.</summary>
    private void Dispatch()
    {
        WaitProcessing();
        (_chunk, _processed) = (_processed, _chunk);
        var chunk = _processed;
        _processing = Task.Run(() => ProcessChunk(chunk));
    }

    private void WaitProcessing()
    {
        var processing = _processing;
        _processing = Task.CompletedTask;
        processing.GetAwaiter().GetResult();
    }

    private void ProcessChunk(List<(ConsumeResult<byte[]?, byte[]?> Result, PartitionState State)> chunk)
    {
        try
        {
            foreach (var (result, state) in chunk)
            {
                if (Process(result, state, _dlq!, _nowMs, out var eventTimeMs))
                {
                    state.AcceptedInBatch++;
                    if (result.Offset.Value < state.AppliedBelow)
                    {
                        state.ReplayedInBatch++;
                    }

                    state.NewestEventMs = state.NewestEventMs is { } newest ? Math.Max(newest, eventTimeMs) : eventTimeMs;
                }
            }
        }
        finally
        {
            chunk.Clear();
        }
    }

    private bool Process(ConsumeResult<byte[]?, byte[]?> result, PartitionState state, DeadLetterProducer dlq, long nowMs, out long eventTimeMs)
    {
        eventTimeMs = 0;
        var source = state.Source;
        var parser = state.Parser;
        var payload = result.Message.Value;
        var error = payload is null ? ParseError.MalformedJson : parser.Parse(payload);
        string? detail = payload is null ? "empty payload (tombstone)" : null;
        if (error == ParseError.None && parser.EventTimeMs < source.HistoryBeforeMs)
        {
            metrics.HistoryOwned(source.Name); // imported with the history: not the stream's, not a reject
            return false;
        }

        if (error == ParseError.None)
        {
            error = state.Lateness.Admit(result.Partition.Value, parser.EventTimeMs, nowMs);
            if (error != ParseError.None)
            {
                detail = $"event time {Rfc3339.Format(parser.EventTimeMs)}, watermark {FormatWatermark(state.Lateness.Watermark(result.Partition.Value))}, processing time {Rfc3339.Format(nowMs)}";
            }
        }

        if (error != ParseError.None)
        {
            if (result.Offset.Value >= state.DeadLetteredBelow)
            {
                // Read again after a rewind, a reject is not sent twice.
                dlq.Send(source.DeadLetterTopic, result, error.ToReason(), parser.ErrorField, detail);
                metrics.DeadLettered(source.Name, error);
                state.DeadLetteredBelow = result.Offset.Value + 1;
            }

            return false;
        }

        writer.Add(source, state.Partition, result.Offset.Value + state.OffsetBase, parser);
        eventTimeMs = parser.EventTimeMs;
        _newestEventMs = Math.Max(_newestEventMs, eventTimeMs);
        return true;
    }

    private static string FormatWatermark(long watermark) => watermark == long.MinValue ? "none" : Rfc3339.Format(watermark);
}
