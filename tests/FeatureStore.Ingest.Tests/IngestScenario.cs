using System.Globalization;
using System.Text;
using Confluent.Kafka;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Windows;
using FeatureStore.Redis.Online;
using FeatureStore.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace FeatureStore.Ingest.Tests;

/// <summary>
/// A payments stream for end-to-end ingest tests: a repository over a unique topic, random events with
/// out-of-order times, and the §4 reference values of every entity computed from the raw events.
/// </summary>
internal sealed class IngestScenario
{
    public const string Project = "itest";

    private readonly List<(string User, string Merchant, double Amount, string Country, long Time, int Index)> _events = [];

    public IngestScenario(string topic, string format = "json", Func<string, string>? edit = null, Func<EventFields, byte[]>? encoder = null)
    {
        Topic = topic;
        Format = format;
        _edit = edit ?? (text => text);
        _encoder = encoder;
        var text = RepositoryYaml;
        var load = FeatureRepositoryLoader.LoadFromText(text, "itest.yaml");
        Assert.True(load.Success, string.Join("\n", load.Diagnostics));
        Compiled = CompiledRepository.Compile(load.Repository!);
    }

    public string Topic { get; }

    /// <summary>The repository file's text for this scenario's topic.</summary>
    public string RepositoryYaml => _edit(PayloadFormats.Declare(RepositoryText.Replace("TOPIC", Topic, StringComparison.Ordinal), Format));

    private readonly Func<string, string> _edit;
    private readonly Func<EventFields, byte[]>? _encoder;

    /// <summary>How the events are encoded: json, avro or protobuf (the binary ones framed for Schema Registry).</summary>
    public string Format { get; }

    /// <summary>Sum of the stored checkpoints' next offsets over the topic's four partitions.</summary>
    public async Task<long> CheckpointedAsync(IDatabase db)
    {
        var keys = new OnlineKeys(KeyPrefix, Project);
        long total = 0;
        for (var p = 0; p < 4; p++)
        {
            var stored = await db.HashGetAsync(keys.Checkpoints("ingest"), OnlineKeys.PartitionField(Topic, p));
            total += stored.IsNull ? 0 : PartitionCheckpointText(stored.ToString());
        }

        return total;
    }

    public CompiledRepository Compiled { get; }

    /// <summary>
    /// The scenario's repository with a feature added to <c>user_stats</c>: a lifetime count, <c>n_all_again</c>,
    /// which applying puts in a group built beside the view's serving one.
    /// </summary>
    public string EvolvedYaml => RepositoryYaml.Replace(
        "- { name: n_all, aggregation: count }",
        "- { name: n_all, aggregation: count }\n      - { name: n_all_again, aggregation: count }",
        StringComparison.Ordinal);

    public string KeyPrefix { get; } = "t" + Guid.NewGuid().ToString("N")[..8];

    public int Count => _events.Count;

    /// <summary>The counted events (user, merchant, amount, country, time), in log order of drawing.</summary>
    public IEnumerable<(string User, string Merchant, double Amount, string Country, long Time)> Events => _events.Select(e => (e.User, e.Merchant, e.Amount, e.Country, e.Time));

    public long MaxTime => _events.Max(e => e.Time);

    /// <summary>
    /// Produces <paramref name="count"/> events for users keyed to partitions; times up to 3 h before now, shuffled.
    /// A later call continues the log: give <paramref name="firstIndex"/> past the earlier calls' events, so the
    /// reference orders equal times as the log does.
    /// </summary>
    public void Produce(string bootstrap, int count, int users, int seed, long nowMs, Func<int, string?>? corrupt = null, int firstIndex = 0, long countsFrom = long.MinValue)
    {
        var random = new Random(seed);
        using var producer = new ProducerBuilder<string, byte[]>(new ProducerConfig
        {
            BootstrapServers = bootstrap,
            EnableIdempotence = true,
            Acks = Acks.All,
            LingerMs = 5,
            MessageMaxBytes = 2 << 20,
        }).Build();
        var failures = 0;
        void Report(DeliveryReport<string, byte[]> report)
        {
            if (report.Error.IsError)
            {
                Interlocked.Increment(ref failures);
            }
        }

        for (var i = 0; i < count; i++)
        {
            var user = "u" + random.Next(users).ToString(CultureInfo.InvariantCulture);
            var bad = corrupt?.Invoke(i);
            if (bad is not null)
            {
                producer.Produce(Topic, new Message<string, byte[]> { Key = user, Value = Encoding.UTF8.GetBytes(bad) }, Report);
                continue;
            }

            producer.Produce(Topic, new Message<string, byte[]> { Key = user, Value = Draw(random, user, nowMs, firstIndex + i, counts: true, countsFrom) }, Report);
        }

        Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(60)));
        Assert.Equal(0, failures);
    }

    /// <summary>
    /// Draws one event of <paramref name="user"/> at position <paramref name="index"/> of the log (its order
    /// among equal times) and returns its payload; the reference counts it when <paramref name="counts"/>.
    /// </summary>
    public byte[] Draw(Random random, string user, long nowMs, int index, bool counts, long countsFrom = long.MinValue)
    {
        var merchant = "m" + random.Next(50).ToString(CultureInfo.InvariantCulture);
        var amount = Math.Round(random.NextDouble() * 500, 2);
        var country = new[] { "FR", "DE", "IT", "ES" }[random.Next(4)];
        var time = nowMs - random.NextInt64(0, 3 * 3_600_000);
        if (random.Next(10) == 0 && _events.Count > 0)
        {
            time = _events[random.Next(_events.Count)].Time; // equal times: ties for last
        }

        if (counts && time >= countsFrom)
        {
            _events.Add((user, merchant, amount, country, time, index));
        }

        return _encoder?.Invoke(new EventFields(user, merchant, amount, country, time, index)) ?? PayloadFormats.Encode(Format, user, merchant, amount, country, time);
    }

    /// <summary>
    /// An ingest job over the scenario's topic. Batches default to 2 000 events, so a job reading a produced
    /// topic still writes many batches and faults injected meanwhile land mid-stream.
    /// </summary>
    public IngestJob CreateJob(string bootstrap, IDatabase db, IngestMetrics metrics, string group = "ingest", int maxBatchEvents = 2_000, int maxCachedStates = 200_000, bool buildInBackground = true, Microsoft.Extensions.Logging.ILogger? logger = null) =>
        IngestJobFactory.Create(Compiled, new IngestOptions
        {
            BootstrapServers = bootstrap,
            GroupId = group,
            MaxBatchEvents = maxBatchEvents,
            MaxCachedStates = maxCachedStates,
            BuildInBackground = buildInBackground,
            MaxBatchDelay = TimeSpan.FromMilliseconds(50),
            SessionTimeout = TimeSpan.FromSeconds(6),
        }, db, KeyPrefix, metrics, logger ?? NullLogger.Instance);

    /// <summary>Runs an ingest job in process until it has applied the whole topic, then stops it.</summary>
    public async Task IngestAllAsync(string bootstrap, IDatabase db, IngestMetrics metrics, CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        // The default batch size: catching up, the whole topic may be one batch.
        var run = Task.Run(() => CreateJob(bootstrap, db, metrics, maxBatchEvents: new IngestOptions { BootstrapServers = bootstrap }.MaxBatchEvents).RunAsync(cts.Token), cancellationToken);
        var caughtUp = WaitUntilCaughtUpAsync(bootstrap, db, TimeSpan.FromSeconds(120), cancellationToken);
        if (await Task.WhenAny(caughtUp, run) == run)
        {
            await run; // the job stopped on its own: surface why
            throw new InvalidOperationException("the ingest job stopped before catching up");
        }

        await caughtUp;
        await cts.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(30), cancellationToken);
    }

    /// <summary>Waits until the stored checkpoints cover every message of the topic.</summary>
    public async Task WaitUntilCaughtUpAsync(string bootstrap, IDatabase db, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var admin = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig { BootstrapServers = bootstrap, GroupId = "probe" }).Build();
        var highs = Enumerable.Range(0, 4).Select(p => admin.QueryWatermarkOffsets(new TopicPartition(Topic, p), TimeSpan.FromSeconds(10)).High.Value).ToArray();
        var keys = new OnlineKeys(KeyPrefix, Project);
        await Eventually.TrueAsync(async () =>
        {
            for (var p = 0; p < highs.Length; p++)
            {
                var stored = await db.HashGetAsync(keys.Checkpoints("ingest"), OnlineKeys.PartitionField(Topic, p));
                var next = stored.IsNull ? 0 : PartitionCheckpointText(stored.ToString());
                if (next < highs[p])
                {
                    return false;
                }
            }

            return true;
        }, timeout, $"checkpoints reach the end of {Topic}", cancellationToken);
    }

    /// <summary>The §4 reference values of <paramref name="view"/>'s features for <paramref name="entity"/> at <paramref name="t"/>.</summary>
    public FeatureValue[] Reference(CompiledView view, string entity, long t) =>
        NaiveReference.Evaluate(
            [.. _events.Where(e => (view.Name == "user_stats" ? e.User : e.Merchant) == entity).Select(e => new TestEvent(e.Time, e.Index, Inputs(view, e)))],
            view.Features, view.TtlMs, t);

    /// <summary>
    /// Compares every entity of every view, read from the online store at <paramref name="t"/>, with the reference
    /// (the views of <paramref name="compiled"/>, for a registry version with its state layout; by default the file's).
    /// </summary>
    public async Task AssertOnlineEqualsReferenceAsync(IDatabase db, long t, CompiledRepository? compiled = null)
    {
        var reader = new OnlineStoreValues(db, new OnlineKeys(KeyPrefix, Project));
        foreach (var view in (compiled ?? Compiled).Views)
        {
            var byEntity = _events.GroupBy(e => view.Name == "user_stats" ? e.User : e.Merchant).ToList();
            var (values, exact) = await reader.ReadAsync([new ViewRead(view, [.. byEntity.Select(g => g.Key)])], t);
            Assert.True(exact, $"{view.Name} at {t} not exact");
            for (var i = 0; i < byEntity.Count; i++)
            {
                var events = byEntity[i].Select(e => new TestEvent(e.Time, e.Index, Inputs(view, e))).ToList();
                var expected = NaiveReference.Evaluate(events, view.Features, view.TtlMs, t);
                for (var f = 0; f < expected.Length; f++)
                {
                    var actual = values[0][i][f];
                    var ok = expected[f].Status == actual.Status && expected[f].Text == actual.Text && expected[f].EventTimeMs == actual.EventTimeMs
                        && expected[f].Int64 == actual.Int64
                        && Math.Abs(expected[f].Double - actual.Double) <= 1e-9 * Math.Max(1, Math.Abs(expected[f].Double));
                    Assert.True(ok, $"{view.Name}:{view.Definition.Features[f].Name} of {byEntity[i].Key} at {t}: expected {expected[f]}, got {actual}");
                }
            }
        }
    }

    private static FeatureInput[] Inputs(CompiledView view, (string User, string Merchant, double Amount, string Country, long Time, int Index) e) =>
        [.. view.Definition.Features.Select(f => f.Field switch
        {
            null => FeatureInput.Absent,
            "amount" => FeatureInput.OfNumber(e.Amount),
            "merchant_id" => FeatureInput.OfText(e.Merchant),
            "country" => FeatureInput.OfText(e.Country),
            "user_id" => FeatureInput.OfText(e.User),
            _ => throw new InvalidOperationException(f.Field),
        })];

    private static long PartitionCheckpointText(string text) => long.Parse(text.AsSpan(0, text.IndexOf(':', StringComparison.Ordinal)), CultureInfo.InvariantCulture);

    private static string RepositoryText => PaymentsRepository.WindowsYaml(Project);
}

/// <summary>One drawn event's values, for a scenario's own encoder.</summary>
internal readonly record struct EventFields(string User, string Merchant, double Amount, string Country, long Time, int Index);
