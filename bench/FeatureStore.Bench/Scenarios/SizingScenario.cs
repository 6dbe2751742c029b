using System.Globalization;
using System.Text;
using Confluent.Kafka;
using FeatureStore.Bench.Harness;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Events;
using FeatureStore.Ingest;
using FeatureStore.Redis;
using FeatureStore.Redis.Online;
using FeatureStore.Testing;
using StackExchange.Redis;

namespace FeatureStore.Bench.Scenarios;

/// <summary>
/// Bytes of online state per entity and per feature, for sizing a store (docs/scaling.md, "Sizing"). A typical
/// view of ten features (count, sum, mean and max over 1 h and over 24 h, the last country, a lifetime count) is
/// defined twice, with a ttl of 1 day and of 7 days, over one source. For each of four event rates per entity
/// (Poisson arrivals: four a day, one an hour, one every 10 minutes, one a minute), eight days of events ending now — longer
/// than the 7-day view's ttl plus its longest window, so every state has reached its steady size — go through
/// the ingest engine (parse → tiles → one batch script per 100 000 events) into a fresh redis-server, as a long
/// running member leaves them. Measured: <c>MEMORY USAGE … SAMPLES 0</c> of every entity key (the key, its hash,
/// its one partition share, its expiry), the share's own length, and <c>used_memory</c> before and after.
/// </summary>
internal static class SizingScenario
{
    private const string Topic = "sizing-events";
    private const int Features = 10;
    private const long Hour = 3_600_000;
    private const long Day = 24 * Hour;

    // Eight days and an hour: the 7-day view keeps tiles back to its newest event − ttl − lateness − 24 h.
    private const long Span = (8 * Day) + Hour;

    private static readonly int Batch = new IngestOptions { BootstrapServers = "" }.MaxBatchEvents;

    // The typical view's ten features, under each view of the repository below.
    private const string TypicalFeatures = """
              - { name: n_1h, aggregation: count, window: 1h }
              - { name: sum_1h, aggregation: sum, field: amount, window: 1h }
              - { name: mean_1h, aggregation: mean, field: amount, window: 1h }
              - { name: max_1h, aggregation: max, field: amount, window: 1h }
              - { name: n_24h, aggregation: count, window: 24h }
              - { name: sum_24h, aggregation: sum, field: amount, window: 24h }
              - { name: mean_24h, aggregation: mean, field: amount, window: 24h }
              - { name: max_24h, aggregation: max, field: amount, window: 24h }
              - { name: last_country, aggregation: last, field: country }
              - { name: n_all, aggregation: count }
        """;

    private const string Yaml = $"""
        project: sizing
        settings:
          allowed_lateness: 5m
          max_future_skew: 5m
        entities:
          - name: user
            join_keys: [user_id]
        sources:
          - name: events
            kafka:
              topic: {Topic}
            timestamp_field: ts
            timestamp_format: epoch_ms
            fields:
              user_id: string
              amount: double
              country: string
              ts: timestamp
        feature_views:
          - name: ttl_1d
            entity: user
            source: events
            ttl: 1d
            features:
        {TypicalFeatures}
          - name: ttl_7d
            entity: user
            source: events
            ttl: 7d
            features:
        {TypicalFeatures}
        """;

    private static readonly string[] Countries = ["FR", "DE", "ES", "IT", "GB", "US", "NL", "BE"];

    /// <summary>An event rate per entity: the mean time between two events, and how many entities get it (full run, quick run).</summary>
    private sealed record Rate(string Name, long IntervalMs, int Entities, int QuickEntities);

    private static readonly Rate[] Rates =
    [
        new("4 events/day", 6 * Hour, 4000, 800),
        new("1 event/hour", Hour, 2000, 400),
        new("1 event/10 min", 10 * 60_000, 1000, 200),
        new("1 event/min", 60_000, 100, 20),
    ];

    public static async Task<IReadOnlyList<ResultRow>> RunAsync(bool quick)
    {
        var load = FeatureRepositoryLoader.LoadFromText(Yaml, "sizing.yaml");
        if (!load.Success)
        {
            throw new InvalidOperationException(string.Join("\n", load.Diagnostics));
        }

        var repository = CompiledRepository.Compile(load.Repository!);
        await using var server = await RedisServer.StartAsync();
        await using var redis = await OnlineStoreConnection.ConnectAsync(server.Endpoint, connectTimeout: null, configure: o => o.AllowAdmin = true); // INFO
        var db = redis.Database;
        var rows = new List<ResultRow>();
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        for (var r = 0; r < Rates.Length; r++)
        {
            var rate = Rates[r];
            var entities = quick ? rate.QuickEntities : rate.Entities;
            var keys = new OnlineKeys("size" + r.ToString(CultureInfo.InvariantCulture), repository.Repository.Project);
            var before = await UsedMemoryAsync(db);
            var events = await IngestAsync(repository, db, keys, rate, entities, now, r);
            var after = await UsedMemoryAsync(db);
            var scenario = $"sizing (redis-server), {rate.Name}";
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {rate.Name}: {events} events over {entities} entities in 8 days ({(double)events / entities:F0} each), used_memory +{(after - before) / 1e6:F1} MB"));
            foreach (var view in repository.Views)
            {
                var (key, share) = await MeanBytesAsync(db, keys, view, entities);
                var ttl = view.Name == "ttl_1d" ? "ttl 1d" : "ttl 7d";
                rows.Add(new ResultRow(scenario, $"{ttl}, 10 features: MEMORY USAGE per entity key (mean)", key, "bytes"));
                rows.Add(new ResultRow(scenario, $"{ttl}, 10 features: per entity per feature", key / Features, "bytes"));
                rows.Add(new ResultRow(scenario, $"{ttl}, 10 features: of which the stored share (stamp and state)", share, "bytes"));
            }

            rows.Add(new ResultRow(scenario, "used_memory growth per entity, both views", (after - before) / (double)entities, "bytes"));
        }

        return rows;
    }

    /// <summary>Streams eight days of <paramref name="rate"/>'s events for <paramref name="entities"/> users, in time order, through the engine.</summary>
    private static async Task<long> IngestAsync(CompiledRepository repository, IDatabase db, OnlineKeys keys, Rate rate, int entities, long now, int seed)
    {
        var random = new Random(seed);
        var arrivals = new List<(long Time, int Entity)>();
        for (var e = 0; e < entities; e++)
        {
            // Poisson arrivals: exponential gaps of the rate's mean, from a random phase.
            for (var t = now - Span + (long)(random.NextDouble() * rate.IntervalMs); t < now; t += 1 + (long)(-Math.Log(1 - random.NextDouble()) * rate.IntervalMs))
            {
                arrivals.Add((t, e));
            }
        }

        arrivals.Sort();
        var source = repository.Sources[0];
        var binding = new SourceBinding(source.Definition.Name, source.Definition.Topic, source.Definition.DeadLetterTopic, source.Schema, source);
        var parser = new EventParser(source.Schema);
        var partition = new TopicPartition(Topic, 0);
        var writer = new OnlineTileWriter(db, keys, "sizing", repository.Repository.Settings.AllowedLatenessMs, 200_000);
        var home = Enumerable.Range(0, entities).Select(_ => Countries[random.Next(Countries.Length)]).ToArray();
        var payload = new StringBuilder(128);
        PartitionCheckpoint? stored = null;
        for (var i = 0; i < arrivals.Count; i++)
        {
            var (time, entity) = arrivals[i];
            // Amounts in cents; one payment in ten abroad.
            var country = random.Next(10) == 0 ? Countries[random.Next(Countries.Length)] : home[entity];
            payload.Clear().Append(CultureInfo.InvariantCulture,
                $"{{\"user_id\":\"u{entity}\",\"amount\":{random.Next(100, 50_000) / 100.0},\"country\":\"{country}\",\"ts\":{time}}}");
            if (parser.Parse(Encoding.UTF8.GetBytes(payload.ToString())) != ParseError.None)
            {
                throw new InvalidOperationException("sizing payload rejected: " + parser.ErrorField);
            }

            writer.Add(binding, partition, i, parser);
            if ((i + 1) % Batch == 0 || i == arrivals.Count - 1)
            {
                var next = new PartitionCheckpoint(i + 1, 0);
                var write = await writer.PrepareAsync(
                    new Dictionary<TopicPartition, PartitionCheckpoint?> { [partition] = stored },
                    new Dictionary<TopicPartition, PartitionCheckpoint> { [partition] = next },
                    CancellationToken.None);
                await write.FinishBuildAsync();
                writer.Send(write);
                if ((await writer.CompleteAsync(write)).Count > 0)
                {
                    throw new InvalidOperationException("unexpectedly fenced");
                }

                stored = next;
            }
        }

        return arrivals.Count;
    }

    /// <summary>Mean MEMORY USAGE (exact: SAMPLES 0) of the view's entity keys, and mean length of their one share.</summary>
    private static async Task<(double Key, double Share)> MeanBytesAsync(IDatabase db, OnlineKeys keys, CompiledView view, int entities)
    {
        var field = OnlineKeys.PartitionField(Topic, 0);
        var batch = db.CreateBatch();
        var usage = new Task<RedisResult>[entities];
        var lengths = new Task<long>[entities];
        for (var e = 0; e < entities; e++)
        {
            var key = keys.Entity(view.Groups[0], "u" + e.ToString(CultureInfo.InvariantCulture));
            usage[e] = batch.ExecuteAsync("MEMORY", "USAGE", key, "SAMPLES", "0");
            lengths[e] = batch.HashStringLengthAsync(key, field);
        }

        batch.Execute();
        await Task.WhenAll(usage);
        await Task.WhenAll(lengths);
        if (lengths.Any(l => l.Result == 0))
        {
            throw new InvalidOperationException($"an entity of {view.Name} has no stored share");
        }

        return (usage.Average(u => (long)u.Result), lengths.Average(l => l.Result));
    }

    private static async Task<long> UsedMemoryAsync(IDatabase db)
    {
        var info = (string?)await db.ExecuteAsync("INFO", "memory") ?? "";
        var line = info.Split('\n').First(l => l.StartsWith("used_memory:", StringComparison.Ordinal));
        return long.Parse(line["used_memory:".Length..].Trim(), CultureInfo.InvariantCulture);
    }
}
