using System.Globalization;
using FeatureStore.Contracts.V1;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Events;
using FeatureStore.Redis.Online;
using Grpc.Core;
using StackExchange.Redis;

namespace FeatureStore.Serving.Internal.Push;

/// <summary>A push request as both faces read it: the source, the events' bytes, and how to answer.</summary>
/// <param name="Source">The source's name.</param>
/// <param name="Events">Each event's JSON.</param>
/// <param name="WaitOnline">Answer once ingest has applied the events.</param>
/// <param name="AcceptValid">Produce the valid events even when others are rejected.</param>
/// <param name="DeadlineUtc">When the answer is due (<see cref="DateTime.MaxValue"/>: none but the server's default).</param>
internal sealed record PushCall(string Source, IReadOnlyList<ReadOnlyMemory<byte>> Events, bool WaitOnline, bool AcceptValid, DateTime DeadlineUtc);

/// <summary>What a push answered: the response, and whether the request was refused as a whole for its rejected events.</summary>
internal sealed record PushOutcome(PushEventsResponse Response, bool Refused)
{
    /// <summary>The message of a refusal: how many were rejected and the first few, by index and reason.</summary>
    public string RefusalMessage()
    {
        var shown = string.Join("; ", Response.Rejected.Take(5).Select(r =>
            $"event {r.Index.ToString(CultureInfo.InvariantCulture)}: {r.Reason}{(r.Field.Length > 0 ? $" ({r.Field})" : "")}"));
        var more = Response.RejectedCount > 5 ? $"; and {(Response.RejectedCount - 5).ToString(CultureInfo.InvariantCulture)} more" : "";
        return $"{Response.RejectedCount.ToString(CultureInfo.InvariantCulture)} event(s) rejected, so nothing was produced: {shown}{more}";
    }
}

/// <summary>
/// The push API (<c>featurestore.v1.Push</c>, <c>POST /v1/push/{source}</c>): each event is read by the ingest
/// job's own <see cref="EventParser"/> for the source's schema and checked against the future skew as ingest
/// checks it; the accepted ones are produced keyed by their entity key (<see cref="PushProducer"/>); with
/// <see cref="PushCall.WaitOnline"/> the answer waits until the ingest group's checkpoints in the online store
/// (written in the same transaction as the tiles) pass every offset produced: read after write.
/// </summary>
internal sealed class PushHandler(RegistryCache registry, ApiKeyPolicy keys, FeatureServerOptions options, IConnectionMultiplexer store, TimeProvider time) : IDisposable
{
    /// <summary>Rejections listed in an answer; past it only counted.</summary>
    public const int MaxListedRejections = 1000;

    private static readonly TimeSpan FirstPoll = TimeSpan.FromMilliseconds(2);
    private static readonly TimeSpan LongestPoll = TimeSpan.FromMilliseconds(50);

    private PushProducer? _producer;

    /// <summary>
    /// Checks the caller's key for the write scope (first, so that a caller without one learns nothing of the
    /// server), then that push is on; the push settings.
    /// </summary>
    public PushOptions Authorize(string? apiKey)
    {
        keys.AuthenticateWrite(apiKey);
        return options.Push ?? throw new LookupException(StatusCode.Unimplemented, "push is off on this server: start it with Kafka (serve --kafka SERVERS, or the run host)");
    }

    public async Task<PushOutcome> RunAsync(PushCall call, string? apiKey, CancellationToken cancellationToken)
    {
        var settings = Authorize(apiKey);
        var started = time.GetTimestamp();
        var source = FindSource(call.Source);
        if (call.Events.Count == 0)
        {
            ThrowHelper.ThrowInvalid("no events: send at least one");
        }

        if (call.Events.Count > settings.MaxEvents)
        {
            throw new LookupException(StatusCode.ResourceExhausted, $"{call.Events.Count} events is over the server's limit of {settings.MaxEvents} per request: split them");
        }

        // The deadline: the caller's, else the server's default; kept a little short of the caller's (a fifth, at
        // most 200 ms) so the answer saying why arrives before the caller gives up. Once it passes, whether the
        // caller's token fired too or not, the answer is DEADLINE_EXCEEDED with what became of the events.
        var now = time.GetUtcNow().UtcDateTime;
        var deadline = call.DeadlineUtc == DateTime.MaxValue ? now + settings.DefaultWaitTimeout
            : call.DeadlineUtc - TimeSpan.FromTicks(Math.Clamp((call.DeadlineUtc - now).Ticks / 5, 0, TimeSpan.FromMilliseconds(200).Ticks));
        using var due = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        due.CancelAfter(deadline <= now ? TimeSpan.Zero : deadline - now);

        var response = new PushEventsResponse { Topic = source.Definition.Topic };
        var accepted = Validate(source, call.Events, response);
        if (response.RejectedCount > 0 && !call.AcceptValid)
        {
            return new PushOutcome(response, Refused: true);
        }

        if (accepted.Count == 0)
        {
            return new PushOutcome(response, Refused: false);
        }

        SortedDictionary<int, long> next;
        try
        {
            next = await Producer(settings).ProduceAsync(source.Definition.Topic, accepted, due.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (due.IsCancellationRequested)
        {
            throw new LookupException(StatusCode.DeadlineExceeded, $"the deadline passed before Kafka confirmed the {accepted.Count} event(s): some may have been produced");
        }

        response.Produced = accepted.Count;
        PushMetrics.Produced(source.Definition.Name, accepted.Count);
        response.Offsets.AddRange(next.Select(p => new PartitionOffset { Partition = p.Key, NextOffset = p.Value }));
        if (!call.WaitOnline)
        {
            return new PushOutcome(response, Refused: false);
        }

        try
        {
            await WaitAppliedAsync(settings, source.Definition.Topic, next, due.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (due.IsCancellationRequested)
        {
            PushMetrics.Waited(source.Definition.Name, applied: false, time.GetElapsedTime(started));
            throw new LookupException(StatusCode.DeadlineExceeded,
                $"the {accepted.Count} event(s) were produced to {source.Definition.Topic} but ingest (group {settings.IngestGroup}) had not applied them all by the deadline: "
                + "they will be applied when it catches up; do not push them again");
        }

        response.Applied = true;
        PushMetrics.Waited(source.Definition.Name, applied: true, time.GetElapsedTime(started));
        return new PushOutcome(response, Refused: false);
    }

    private CompiledSource FindSource(string name)
    {
        var current = registry.Current;
        foreach (var source in current.Compiled.Sources)
        {
            if (source.Definition.Name == name)
            {
                return source;
            }
        }

        if (current.Repository.Sources.Any(s => s.Name == name))
        {
            throw new LookupException(StatusCode.NotFound, $"source '{ThrowHelper.Shown(name)}' feeds no feature view, so ingest does not read it: nothing pushed to it would be applied");
        }

        var known = string.Join(", ", current.Compiled.Sources.Select(s => s.Definition.Name));
        throw new LookupException(StatusCode.NotFound, $"no source '{ThrowHelper.Shown(name)}' (sources: {known})");
    }

    /// <summary>Reads every event as ingest would; lists the rejects in <paramref name="response"/>, returns the accepted ones keyed.</summary>
    private List<(byte[] Key, ReadOnlyMemory<byte> Value)> Validate(CompiledSource source, IReadOnlyList<ReadOnlyMemory<byte>> events, PushEventsResponse response)
    {
        var parser = new EventParser(source.Schema);
        var skewMs = registry.Current.Repository.Settings.MaxFutureSkewMs;
        var nowMs = time.GetUtcNow().ToUnixTimeMilliseconds();
        var accepted = new List<(byte[], ReadOnlyMemory<byte>)>(events.Count);
        for (var i = 0; i < events.Count; i++)
        {
            ParseError error;
            try
            {
                error = parser.Parse(events[i].Span);
            }
            catch (Core.Events.Payloads.SchemaRegistryUnavailableException ex)
            {
                throw new LookupException(StatusCode.Unavailable, $"event {i} cannot be checked: {ex.Message}; nothing was produced, try again");
            }

            string? detail = null;
            if (error == ParseError.None && parser.EventTimeMs > nowMs && parser.EventTimeMs - nowMs > skewMs)
            {
                // As ingest's lateness policy judges it, at the time it is pushed.
                error = ParseError.TooFarInFuture;
                detail = $"event time {Rfc3339.Format(parser.EventTimeMs)} is more than {Duration.Format(skewMs)} after the server's time {Rfc3339.Format(nowMs)}";
            }

            if (error == ParseError.None)
            {
                accepted.Add((parser.KeyUtf8.ToArray(), events[i]));
                continue;
            }

            response.RejectedCount++;
            PushMetrics.Rejection(source.Definition.Name, error.ToReason());
            if (response.Rejected.Count < MaxListedRejections)
            {
                response.Rejected.Add(new RejectedEvent
                {
                    Index = i,
                    Reason = error.ToReason(),
                    Field = error == ParseError.TooFarInFuture ? source.Schema.TimestampField : parser.ErrorField ?? "",
                    Detail = detail ?? "",
                });
            }
        }

        return accepted;
    }

    private PushProducer Producer(PushOptions settings)
    {
        if (Volatile.Read(ref _producer) is { } producer)
        {
            return producer;
        }

        var created = new PushProducer(settings);
        if (Interlocked.CompareExchange(ref _producer, created, null) is { } raced)
        {
            created.Dispose();
            return raced;
        }

        return created;
    }

    /// <summary>
    /// Polls the ingest group's checkpoints of the partitions written (one HMGET a round), with a backoff from 2 ms
    /// to 50 ms, until each has reached the offset after the request's last event there.
    /// </summary>
    private async Task WaitAppliedAsync(PushOptions settings, string topic, SortedDictionary<int, long> next, CancellationToken cancellationToken)
    {
        var database = store.GetDatabase();
        var key = registry.Keys.Checkpoints(settings.IngestGroup);
        var fields = next.Keys.Select(p => OnlineKeys.PartitionField(topic, p)).ToArray();
        var wanted = next.Values.ToArray();
        var delay = FirstPoll;
        while (true)
        {
            RedisValue[] stored;
            try
            {
                stored = await database.HashGetAsync(key, fields).WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (OnlineStoreHealth.IsStoreFailure(ex))
            {
                stored = []; // the store is down for a moment: ingest is paused too, try again until the deadline
            }

            if (stored.Length == wanted.Length && AllApplied(stored, wanted))
            {
                return;
            }

            await Task.Delay(delay, time, cancellationToken).ConfigureAwait(false);
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, LongestPoll.Ticks));
        }
    }

    private static bool AllApplied(RedisValue[] stored, long[] wanted)
    {
        for (var i = 0; i < wanted.Length; i++)
        {
            // NEXT_OFFSET:WATERMARK[:BASE:INCARNATION], the ingest job's checkpoint (PartitionCheckpoint).
            if (stored[i].IsNull)
            {
                return false;
            }

            var text = stored[i].ToString();
            var colon = text.IndexOf(':', StringComparison.Ordinal);
            if (!long.TryParse(colon < 0 ? text : text.AsSpan(0, colon), NumberStyles.Integer, CultureInfo.InvariantCulture, out var applied) || applied < wanted[i])
            {
                return false;
            }
        }

        return true;
    }

    public void Dispose() => _producer?.Dispose();
}
